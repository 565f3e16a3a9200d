//! Guest sizes (placeholder until the guest rules land).
