//! aivex-platform: the host integration: sd_notify, log setup for terminals/journald/JSON, disk budgets
