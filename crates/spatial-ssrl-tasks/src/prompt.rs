//! The answer-format instruction appended to every problem at training and evaluation time.

/// The format instruction the released Spatial-SSRL checkpoints were trained with
/// (EasyR1's `math.jinja` format prompt): reason inside `<think> </think>`, answer in `\boxed{}`.
///
/// This is an interface constant: changing one character changes what the released
/// checkpoints see, so it is reproduced exactly.
pub const FORMAT_INSTRUCTION: &str = "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}.";

/// Appends [`FORMAT_INSTRUCTION`] to a problem the way EasyR1's format prompt renders it:
/// the problem trimmed, one space, then the instruction.
///
/// ```
/// use spatial_ssrl_tasks::{with_format_instruction, FORMAT_INSTRUCTION};
/// let p = with_format_instruction("  <image>Which patch is flipped?\n");
/// assert_eq!(p, format!("<image>Which patch is flipped? {FORMAT_INSTRUCTION}"));
/// ```
pub fn with_format_instruction(problem: &str) -> String {
    format!("{} {}", problem.trim(), FORMAT_INSTRUCTION)
}
