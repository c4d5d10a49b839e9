//! Verifiable rewards for Spatial-SSRL: format, answer extraction, accuracy, MCQ and numeric scoring.
