//! property_mappings
