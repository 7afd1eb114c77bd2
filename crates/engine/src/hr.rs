//! hr (being written)
