//! aivex-brain: the signal engine and the governor: composite signals, allow/deny rules, outcome scoring and calibration (pure core)
