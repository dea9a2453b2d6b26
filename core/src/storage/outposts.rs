//! outposts
