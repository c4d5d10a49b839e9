//! SFT cold start and GRPO (EasyR1 parity) for vision-language policies on burn.
