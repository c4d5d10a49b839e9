//! The user text and settings of each paper script, per item. Every literal here is the
//! script's own text (typos included: VSI-Bench's "anser", QSpatial's "thinkg"), because the
//! released checkpoints were measured with exactly these bytes.

use spatial_ssrl_rewards::FORMAT_INSTRUCTION;

use super::Request;
use crate::item::Item;

/// One 28×28 patch area: the unit the scripts' pixel limits are written in.
const PATCH_AREA: u64 = 28 * 28;

/// `max_new_tokens` of `ViewSpatial_eval/main.py`, `vsi_infer.py` and `whatsup_eval/main.py`.
const SCRIPT_MAX_NEW_TOKENS: usize = 4096;
/// `max_new_tokens` of the VLMEvalKit fork (`Qwen2VLChat`'s default, not overridden).
const FORK_MAX_NEW_TOKENS: usize = 2048;
/// Frames `vsi_infer.py` samples per video (`uniform_sample_frames(.., max_frames=128)`).
pub(crate) const VSI_FRAMES: usize = 128;
/// The frame rate qwen_vl_utils reports for a frame list given without one.
pub(crate) const VSI_FPS: f64 = 2.0;

/// The fork appends its reasoning prompt to every text part in its CoT run; in the direct
/// run it appends nothing, except for Spatial457 (the fork's note "For Base-model spatial457").
fn fork_suffix(cot: bool, spatial457: bool) -> &'static str {
    match (cot, spatial457) {
        (true, _) => FORMAT_INSTRUCTION,
        (false, true) => "Please directly give the answer.",
        (false, false) => "",
    }
}

/// ViewSpatial-Bench (`ViewSpatial_eval/main.py`): `question + '\n' + choices + prompt_format`;
/// images resized to 420×280 by qwen_vl_utils, then 256·28²..1280·28² by the processor.
pub(crate) fn viewspatial(item: &Item, cot: bool) -> Request {
    let format = if cot {
        format!(
            "\nThe final answer should be the option letter from the given choices.\n{FORMAT_INSTRUCTION}"
        )
    } else {
        "\nReply only to the corresponding option.\nAnswer:".to_string()
    };
    let choices = item.extra.get("choices").cloned().unwrap_or_else(|| {
        let lines: Vec<String> = item
            .options
            .iter()
            .enumerate()
            .map(|(i, o)| format!("{}. {o}", Item::letter(i)))
            .collect();
        lines.join("\n")
    });
    Request {
        min_pixels: Some(256 * PATCH_AREA),
        max_pixels: Some(1280 * PATCH_AREA),
        resize: Some((280, 420)),
        max_new_tokens: Some(SCRIPT_MAX_NEW_TOKENS),
        ..Request::plain(item, format!("{}\n{choices}{format}", item.question))
    }
}

/// VSI-Bench (`vsi_infer.py`, `fix_prompt`): the options are appended as `'A. ' + option`
/// with no separator (the published options already carry their own `A. ` label); 128
/// uniformly sampled frames as one video, processor defaults for pixels.
pub(crate) fn vsibench(item: &Item, cot: bool) -> Request {
    let mut p = String::from("Watch the given video and anser the following question.\n\n");
    p.push_str(&item.question);
    let mut cnt = 0;
    for l in ['A', 'B', 'C', 'D'] {
        match item.extra.get(&l.to_string()) {
            Some(o) => {
                p.push_str(&format!("{l}. {o}"));
                cnt += 1;
            }
            None => break,
        }
    }
    match (cot, cnt) {
        (false, 0) => p.push_str("\nAnswer directly with a number(integer or decimal)."),
        (false, _) => {
            p.push_str("\nAnswer directly with the option letter from the given choices.")
        }
        (true, 0) => p.push_str("\nThe final answer should be a number(integer or decimal).\n"),
        (true, _) => {
            p.push_str("\nThe final answer should be the option letter from the given choices.\n")
        }
    }
    if cot {
        p.push_str(FORMAT_INSTRUCTION);
    }
    Request {
        max_new_tokens: Some(SCRIPT_MAX_NEW_TOKENS),
        ..Request::plain(item, p)
    }
}

/// What'sUp (`whatsup_eval/main.py`): the instruction, then `X: caption` lines; at most
/// 512·28² pixels (qwen_vl_utils' own minimum, 4·28², below).
pub(crate) fn whatsup(item: &Item, cot: bool) -> Request {
    let captions: Vec<String> = item
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{}: {o}", Item::letter(i)))
        .collect();
    let head = if cot {
        format!(
            "Based on the image, choose the correct option from the list below.{FORMAT_INSTRUCTION}"
        )
    } else {
        "Based on the image, choose the correct option from the list below. Only respond the corresponding letter (e.g., C).\n\n".to_string()
    };
    Request {
        min_pixels: Some(4 * PATCH_AREA),
        max_pixels: Some(512 * PATCH_AREA),
        max_new_tokens: Some(SCRIPT_MAX_NEW_TOKENS),
        ..Request::plain(item, format!("{head}{}", captions.join("\n")))
    }
}

/// The fork's image settings (`Spatial-SSRL-7B` in `vlmeval/config.py`).
fn fork_request(item: &Item, text: String) -> Request {
    Request {
        min_pixels: Some(1280 * PATCH_AREA),
        max_pixels: Some(16384 * PATCH_AREA),
        max_new_tokens: Some(FORK_MAX_NEW_TOKENS),
        ..Request::plain(item, text)
    }
}

/// VLMEvalKit's multiple-choice prompt (`ImageMCQDataset.build_prompt`, 3DSRBench,
/// SpatialEval): `Hint:`, `Question:`, `Options:` lines and the fixed request, then the fork's
/// reasoning prompt appended directly.
pub(crate) fn fork_mcq(item: &Item, cot: bool) -> Request {
    let mut p = String::new();
    if let Some(h) = item.extra.get("hint") {
        p.push_str(&format!("Hint: {h}\n"));
    }
    p.push_str(&format!("Question: {}\n", item.question));
    if !item.options.is_empty() {
        p.push_str("Options:\n");
        for (i, o) in item.options.iter().enumerate() {
            p.push_str(&format!("{}. {o}\n", Item::letter(i)));
        }
        p.push_str("Please select the correct answer from the options above. \n");
    }
    p.push_str(fork_suffix(cot, false));
    fork_request(item, p)
}

/// Spatial457's attribute vocabulary (`Spatial457_utils.all_answers`): every value
/// capitalised, comma-separated.
fn spatial457_vocabulary() -> String {
    const VALUES: [&[&str]; 4] = [
        &["small", "large"],
        &[
            "airliner",
            "dirtbike",
            "road bike",
            "tandem bike",
            "suv",
            "wagon",
            "scooter",
            "mountain bike",
            "minivan",
            "sedan",
            "school bus",
            "fighter",
            "chopper",
            "double bus",
            "truck",
            "articulated bus",
            "cruiser",
            "jet",
            "utility bike",
            "regular bus",
            "biplane",
        ],
        &[
            "gray", "blue", "purple", "brown", "green", "cyan", "red", "yellow",
        ],
        &["left", "right", "front", "back"],
    ];
    let capitalised: Vec<String> = VALUES
        .iter()
        .flat_map(|group| group.iter())
        .map(|v| {
            let mut cs = v.chars();
            cs.next()
                .map(|c| c.to_uppercase().chain(cs).collect())
                .unwrap_or_default()
        })
        .collect();
    capitalised.join(", ")
}

/// Spatial457's per-level task sentence (`build_subtask_instruction`'s `task_map`).
fn spatial457_level(level: &str) -> &'static str {
    match level {
        "L1_single" => {
            "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of the objects, and then determine the answer to the question.\n"
        }
        "L2_objects" => {
            "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of multiple objects, and then determine the answer to the question.\n"
        }
        "L3_2d_spatial" => {
            "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of multiple objects and their spatial relationship from 2D projected camera view, and then determine the answer to the question.\n"
        }
        "L4_occ" => {
            "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of multiple objects and their occlusion relationships, and then determine the answer to the question.\n"
        }
        "L4_pose" => {
            "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of multiple objects and their facing direction in 3D space from the camera view, and then determine the answer to the question.\n"
        }
        "L5_6d_spatial" => {
            "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of multiple objects and their spatial relationship from objects\u{2019} perspective in 3D space, and then determine the answer to the question.\n"
        }
        "L5_collision" => {
            "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of multiple objects and their potential collision given the assumption of moving direction in 3D space, and then determine the answer to the question.\n"
        }
        _ => "",
    }
}

/// Spatial457 in the fork (`Spatial457.build_prompt`): the level's task sentence, the image,
/// the question, then the answer rules with the attribute vocabulary, each text part
/// followed by the fork's suffix.
pub(crate) fn fork_spatial457(item: &Item, cot: bool) -> Request {
    let suffix = fork_suffix(cot, true);
    let rules = format!(
        "First, you should identify the related objects refered in the questions, including their shape, color, size; then add a brief reasoning process about the questions. Each object in the image has a shape (e.g., 'airliner'), a size (only can be 'small' or 'large'), a color (e.g. 'blue'). The size of the object is either 'small' or 'large'. The color of the object is one of the following: 'gray', 'blue', 'purple', 'brown', 'green', 'cyan', 'red', 'yellow'. The direction of the object is one of the following: 'left', 'right', 'front', 'back'.\n\nSecond, give the answer based on the reasoning process. The answer should only be (1) a phrase chosen from the following options: {}, or (2) an integer [0-10] when asked for 'How many' or 'What is the number of', or (3) 'Yes' or 'No' when asked for 'Is there'. If you think there are no possible answers or the question is not clear, choose the best answer that fits the question.\n\n",
        spatial457_vocabulary()
    );
    let head = format!("{}{suffix}", spatial457_level(&item.category));
    let text = format!("{head}{}{suffix}{rules}{suffix}", item.question);
    Request {
        visuals_at: head.len(),
        ..fork_request(item, text)
    }
}

/// Q-Spatial-Bench's system prompt, which the fork puts in front of the question template.
const QSPATIAL_SYSTEM: &str = "You will be provided with a question and a 2D image. The question involves measuring the precise distance in 3D space through a 2D image. You will answer the question by providing a numeric answer consisting of a scalar and a distance unit in the format of \"\"\"\\scalar{scalar} \\distance_unit{distance unit}\"\"\" at the end of your response.";

/// QSpatial-plus in the fork (`QSpatial.build_prompt`): system prompt, newline, the rendered
/// template — Q-Spatial-Bench's `spatial_prompt_single` for the CoT run; the fork's own
/// no-CoT template file is unpublished, so the direct run sends the bare `Question:` line.
/// The fork's reasoning prompt is not appended here (its note: "don't use this for
/// qspatial-cot").
pub(crate) fn fork_qspatial(item: &Item, cot: bool) -> Request {
    let template = if cot {
        format!(
            "Question: {}\nLet's thinkg step by step and start by finding good reference objects or object parts in the image.",
            item.question
        )
    } else {
        format!("Question: {}", item.question)
    };
    fork_request(item, format!("{QSPATIAL_SYSTEM}\n{template}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_instruction_is_the_scripts_reasoning_prompt() {
        // All four scripts append exactly this sentence in their CoT runs.
        assert_eq!(
            FORMAT_INSTRUCTION,
            "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}."
        );
    }

    #[test]
    fn spatial457_vocabulary_is_capitalised_like_python() {
        let v = spatial457_vocabulary();
        assert!(v.starts_with("Small, Large, Airliner, Dirtbike, Road bike, Tandem bike, Suv,"));
        assert!(v.ends_with("Yellow, Left, Right, Front, Back"));
    }
}
