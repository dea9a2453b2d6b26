//! Brands: per-domain look (title, logo, CSS) and the default flows of the interface
//! served under that domain. One brand may be the default, used for any other host.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::{BrandId, FlowId};

/// A stored brand.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Brand {
    /// Stable id.
    pub id: BrandId,
    /// Host name the brand applies to, and to its subdomains.
    pub domain: String,
    /// Used when no domain matches; at most one brand is the default.
    pub is_default: bool,
    /// Page title.
    pub title: String,
    /// Logo URL.
    pub logo: String,
    /// Favicon URL.
    pub favicon: String,
    /// Extra CSS for the interface.
    pub custom_css: String,
    /// Sign-in flow; `None` for the built-in choice.
    pub flow_authentication: Option<FlowId>,
    /// Sign-out flow.
    pub flow_invalidation: Option<FlowId>,
    /// Account recovery flow; `None` disables recovery links.
    pub flow_recovery: Option<FlowId>,
    /// Flow of the user settings page.
    pub flow_user_settings: Option<FlowId>,
    /// Free-form attributes (locale, theme settings, …).
    #[sqlx(json)]
    pub attributes: Value,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create a brand.
#[derive(Debug, Clone)]
pub struct NewBrand {
    /// Host name.
    pub domain: String,
    /// Whether this is the default brand.
    pub is_default: bool,
    /// Page title.
    pub title: String,
    /// Logo URL.
    pub logo: String,
    /// Favicon URL.
    pub favicon: String,
    /// Extra CSS.
    pub custom_css: String,
    /// Sign-in flow.
    pub flow_authentication: Option<FlowId>,
    /// Sign-out flow.
    pub flow_invalidation: Option<FlowId>,
    /// Recovery flow.
    pub flow_recovery: Option<FlowId>,
    /// User settings flow.
    pub flow_user_settings: Option<FlowId>,
    /// Free-form attributes.
    pub attributes: Value,
}

impl NewBrand {
    /// A non-default brand for `domain` titled "Gatehouse", without flows.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            is_default: false,
            title: "Gatehouse".into(),
            logo: String::new(),
            favicon: String::new(),
            custom_css: String::new(),
            flow_authentication: None,
            flow_invalidation: None,
            flow_recovery: None,
            flow_user_settings: None,
            attributes: Value::Object(Default::default()),
        }
    }
}

/// The columns of [`Brand`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, domain, is_default, title, logo, favicon, custom_css, flow_authentication, \
         flow_invalidation, flow_recovery, flow_user_settings, attributes, created_at, \
         updated_at"
    };
}

/// Creates a brand. A taken domain, or a second default, is
/// [`super::StorageError::Conflict`]; an unknown flow
/// [`super::StorageError::MissingReference`].
pub async fn create(db: &mut impl Db, new: NewBrand, now: Timestamp) -> Result<Brand> {
    let brand = Brand {
        id: BrandId::new(),
        domain: new.domain,
        is_default: new.is_default,
        title: new.title,
        logo: new.logo,
        favicon: new.favicon,
        custom_css: new.custom_css,
        flow_authentication: new.flow_authentication,
        flow_invalidation: new.flow_invalidation,
        flow_recovery: new.flow_recovery,
        flow_user_settings: new.flow_user_settings,
        attributes: new.attributes,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO brands (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(brand.id)
        .bind(&brand.domain)
        .bind(brand.is_default)
        .bind(&brand.title)
        .bind(&brand.logo)
        .bind(&brand.favicon)
        .bind(&brand.custom_css)
        .bind(brand.flow_authentication)
        .bind(brand.flow_invalidation)
        .bind(brand.flow_recovery)
        .bind(brand.flow_user_settings)
        .bind(Json(&brand.attributes))
        .bind(brand.created_at)
        .bind(brand.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(brand)
}

/// The brand with this id.
pub async fn get(db: &mut impl Db, id: BrandId) -> Result<Option<Brand>> {
    let sql = concat!("SELECT ", columns!(), " FROM brands WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The default brand, if one is set.
pub async fn find_default(db: &mut impl Db) -> Result<Option<Brand>> {
    let sql = concat!("SELECT ", columns!(), " FROM brands WHERE is_default");
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .fetch_optional(c)
        .await)?)
}

/// The brand for a request to `host` (a `Host` header, port allowed); see
/// [`pick_brand`].
pub async fn find_for_host(db: &mut impl Db, host: &str) -> Result<Option<Brand>> {
    let brands = list(db).await?;
    Ok(pick_brand(&brands, host).cloned())
}

/// Every brand, ordered by domain.
pub async fn list(db: &mut impl Db) -> Result<Vec<Brand>> {
    let sql = concat!("SELECT ", columns!(), " FROM brands ORDER BY domain");
    fetch_all!(db, sql)
}

/// Writes every field of `brand` but its id and creation time. Returns whether the
/// brand existed.
pub async fn update(db: &mut impl Db, brand: &Brand, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE brands SET domain = $2, is_default = $3, title = $4, logo = $5, \
             favicon = $6, custom_css = $7, flow_authentication = $8, flow_invalidation = $9, \
             flow_recovery = $10, flow_user_settings = $11, attributes = $12, updated_at = $13 \
             WHERE id = $1",
        )
        .bind(brand.id)
        .bind(&brand.domain)
        .bind(brand.is_default)
        .bind(&brand.title)
        .bind(&brand.logo)
        .bind(&brand.favicon)
        .bind(&brand.custom_css)
        .bind(brand.flow_authentication)
        .bind(brand.flow_invalidation)
        .bind(brand.flow_recovery)
        .bind(brand.flow_user_settings)
        .bind(Json(&brand.attributes))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a brand. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: BrandId) -> Result<bool> {
    delete_one!(db, "DELETE FROM brands WHERE id = $1", id)
}

/// The brand for `host`: the one whose domain is the host or a parent domain of it
/// (`example.org` serves `auth.example.org`, not `badexample.org`), the longest such
/// domain winning, else the default brand. Host and domains compare ignoring ASCII
/// case, a port and a trailing dot.
pub fn pick_brand<'a>(brands: &'a [Brand], host: &str) -> Option<&'a Brand> {
    let host = normalize(strip_port(host));
    brands
        .iter()
        .filter_map(|brand| {
            let domain = normalize(&brand.domain);
            serves(&domain, &host).then_some((domain.len(), brand))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, brand)| brand)
        .or_else(|| brands.iter().find(|brand| brand.is_default))
}

/// Whether a brand for `domain` serves `host`, both normalised.
fn serves(domain: &str, host: &str) -> bool {
    if domain.is_empty() {
        return false;
    }
    match host.strip_suffix(domain) {
        Some(rest) => rest.is_empty() || rest.ends_with('.'),
        None => false,
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `host` without a `:port`; a bracketed IPv6 address keeps its brackets.
fn strip_port(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => host.get(..=end).unwrap_or(host),
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests;
