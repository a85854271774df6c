//! The reference models the CLI knows by name.

#[path = "../../../examples/models/antirectifier.rs"]
pub mod antirectifier;

use anyhow::{bail, Result};
use wgtrain::nn::Model;

pub struct Known {
    pub name: &'static str,
    pub about: &'static str,
    build: fn() -> Result<Model>,
}

impl Known {
    pub fn build(&self) -> Result<Model> {
        (self.build)()
    }
}

pub const KNOWN: &[Known] = &[Known {
    name: "mnist-antirectifier",
    about: "Antirectifier MLP on MNIST (reference workload 5)",
    build: antirectifier::build_model,
}];

pub fn lookup(name: &str) -> Result<&'static Known> {
    match KNOWN.iter().find(|k| k.name == name) {
        Some(k) => Ok(k),
        None => {
            let list: Vec<String> = KNOWN
                .iter()
                .map(|k| format!("  {} — {}", k.name, k.about))
                .collect();
            bail!("unknown model '{name}'. Known models:\n{}", list.join("\n"))
        }
    }
}
