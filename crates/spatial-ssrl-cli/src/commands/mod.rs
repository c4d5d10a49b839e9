//! One module per subcommand.
// MODULES (keep one line per module; add yours here)
#[cfg(feature = "ml")] pub mod train;
#[cfg(feature = "ml")] pub mod plot;
#[cfg(feature = "ml")] pub mod infer;
pub mod generate;
pub mod preview;
pub mod score;
pub mod eval;
