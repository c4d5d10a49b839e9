//! Spatial benchmark adapters (VLMEvalKit TSV, ViewSpatial, VSI-Bench, What'sUp, QSpatial) scored as published.
