//! One module per subcommand.
// MODULES (keep one line per module; add yours here)
pub mod generate;
pub mod preview;
pub mod score;
pub mod eval;
