//! The answer-format instruction: the contract between the prompt and [`ImgScore`]'s format
//! check, kept beside that check so the two cannot drift apart.
//!
//! [`ImgScore`]: crate::ImgScore

/// The format instruction the released Spatial-SSRL checkpoints were trained with
/// (EasyR1's `math.jinja` format prompt): reason inside `<think> </think>`, answer in `\boxed{}`
/// (what [`has_reference_format`](crate::has_reference_format) checks).
///
/// This is an interface constant: changing one character changes what the released
/// checkpoints see, so it is reproduced exactly.
pub const FORMAT_INSTRUCTION: &str = "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}.";

/// Appends [`FORMAT_INSTRUCTION`] to a problem the way EasyR1's format prompt renders it:
/// the problem trimmed, one space, then the instruction.
///
/// ```
/// use spatial_ssrl_rewards::{with_format_instruction, FORMAT_INSTRUCTION};
/// let p = with_format_instruction("  <image>Which patch is flipped?\n");
/// assert_eq!(p, format!("<image>Which patch is flipped? {FORMAT_INSTRUCTION}"));
/// ```
pub fn with_format_instruction(problem: &str) -> String {
    format!("{} {}", problem.trim(), FORMAT_INSTRUCTION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{has_reference_format, score};

    #[test]
    fn instruction_names_what_the_format_check_requires() {
        // The tags and the box the instruction asks for are the ones the reward checks.
        for piece in ["<think>", "</think>", "\\boxed{}"] {
            assert!(FORMAT_INSTRUCTION.contains(piece), "{piece}");
        }
        let obeying = "<think>Patch 2 is mirrored.</think> \\boxed{2}";
        assert!(has_reference_format(obeying));
        assert_eq!(score(obeying, "2").format, 1.0);
    }
}
