//! What'sUp (Kamath et al. 2023): the controlled-images JSON (`image_path`, four
//! `caption_options`, the first one true), or the same benchmark as a VLMEvalKit-style TSV.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{base_dir, extension, need_field, read_records, resolve};
use crate::benchmark::{Benchmark, mcq_prompt};
use crate::error::{Error, Result};
use crate::item::{Answer, Item, Visual};

/// What'sUp. A `.json` file is read in the controlled-images format (Controlled_Images_A / B):
/// the options keep their published order, so the answer is always `A`, as the paper's
/// evaluation presented them; the category is the preposition in the image name
/// (`left_of`, `right_of`, `on`, `under`, `in-front_of`, `behind`). A `.tsv` file is read as
/// a VLMEvalKit multiple-choice TSV.
#[derive(Debug, Clone, Copy, Default)]
pub struct WhatsUp;

fn preposition(image_path: &str) -> &'static str {
    let name = image_path.rsplit(['/', '\\']).next().unwrap_or(image_path);
    for (needle, cat) in [
        ("left_of", "left_of"),
        ("right_of", "right_of"),
        ("in-front_of", "in-front_of"),
        ("behind", "behind"),
        ("_on_", "on"),
        ("under", "under"),
    ] {
        if name.contains(needle) {
            return cat;
        }
    }
    "other"
}

impl Benchmark for WhatsUp {
    fn name(&self) -> &str {
        super::names::WHATSUP
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        match extension(path).as_str() {
            "tsv" => super::load_mcq_tsv(path, &[]),
            "json" | "jsonl" => {
                let base = base_dir(path);
                read_records(path)?
                    .into_iter()
                    .enumerate()
                    .map(|(r, rec)| {
                        let image = need_field(path, r, &rec, &["image_path"])?;
                        let options: Vec<String> = match rec.get("caption_options") {
                            Some(Value::Array(a)) => a
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect(),
                            _ => Vec::new(),
                        };
                        if options.len() < 2 {
                            return Err(Error::MissingField {
                                path: path.to_path_buf(),
                                record: r,
                                field: "caption_options".into(),
                            });
                        }
                        Ok(Item {
                            index: r as i64,
                            question: "Which caption describes the image correctly?".into(),
                            options,
                            answer: Answer::Choice('A'),
                            category: preposition(&image).to_string(),
                            visuals: vec![Visual::File(resolve(&base, &image))],
                            extra: BTreeMap::new(),
                        })
                    })
                    .collect()
            }
            _ => Err(Error::UnknownFormat {
                path: path.to_path_buf(),
                bench: self.name().into(),
                expected: "controlled-images .json or VLMEvalKit .tsv",
            }),
        }
    }

    fn prompt(&self, item: &Item) -> String {
        mcq_prompt(item, None)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prepositions_from_file_names() {
        assert_eq!(
            super::preposition("data/controlled_images/mug_left_of_plate.jpeg"),
            "left_of"
        );
        assert_eq!(
            super::preposition("data/controlled_images/mug_on_plate.jpeg"),
            "on"
        );
        assert_eq!(
            super::preposition("controlled_clevr/cube_in-front_of_sphere.jpeg"),
            "in-front_of"
        );
        assert_eq!(super::preposition("x/can_under_table.jpeg"), "under");
    }
}
