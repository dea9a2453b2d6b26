//! The consent stage: may the application of the authorization request see what its
//! scopes give? Asked every time, once, or once per period.

use gatehouse_config::objects::{ConsentMode, ConsentStage};

use super::{Context, StageResult, duration};
use crate::flows::FlowError;
use crate::flows::challenge::{Challenge, Permission};
use crate::storage::oauth2;

/// Asks the user to let the application of the authorization request see what its
/// scopes give. Outside an authorization flow there is nothing to ask.
pub(super) async fn consent(
    settings: ConsentStage,
    ctx: Context<'_>,
) -> Result<StageResult, FlowError> {
    let Some(pending) = ctx.state.authorization.clone() else {
        return Ok(StageResult::Done);
    };
    let Some(user) = ctx.request.session_user else {
        return Ok(StageResult::Deny("You need to sign in first.".into()));
    };
    let now = ctx.request.now;
    let remembered = settings.mode != ConsentMode::AlwaysRequire;
    if ctx.answer.is_some() {
        if remembered {
            let expires_at = (settings.mode == ConsentMode::Expiring)
                .then(|| now + duration(&settings.consent_expire_in));
            let scope = pending.scopes.join(" ");
            oauth2::save_consent(
                ctx.tx,
                user,
                pending.application_id,
                &scope,
                now,
                expires_at,
            )
            .await?;
        }
        return Ok(StageResult::Done);
    }
    if remembered
        && !pending.force_consent
        && let Some(given) = oauth2::find_consent(ctx.tx, user, pending.application_id).await?
        && given.expires_at.is_none_or(|at| at > now)
    {
        let covered = given.scope.split(' ').collect::<Vec<_>>();
        if pending.scopes.iter().all(|s| covered.contains(&s.as_str())) {
            return Ok(StageResult::Done);
        }
    }
    let permissions =
        crate::oauth2::claims::scope_descriptions(ctx.tx, pending.provider_id, &pending.scopes)
            .await?
            .into_iter()
            .map(|(id, name)| Permission { id, name })
            .collect();
    Ok(StageResult::Show(Challenge::Consent {
        flow_info: ctx.flow_info.clone(),
        header_text: format!("{} would like to sign you in.", pending.application_name),
        permissions,
    }))
}
