//! brands
