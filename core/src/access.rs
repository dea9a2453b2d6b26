//! Who may open which application: an application's policy bindings (groups, users,
//! policies; `all` or `any`), decided for a user. No binding means every signed-in
//! user may, as in authentik.

use crate::expr::{ApplicationInput, Input, RequestInput};
use crate::ids::UserId;
use crate::policies::{Decision, Situation, Who, decide, evaluate, who};
use crate::storage::applications::{self, Application};
use crate::storage::policies::{BindingTarget, bindings_of_target};
use crate::storage::{StorageError, Tx};

/// Whether `user` may open `application` during `request`. `window` is how far back
/// failed sign-ins count for a reputation policy (the login throttle's window).
pub async fn may_open(
    tx: &mut Tx,
    application: &Application,
    user: UserId,
    request: &RequestInput,
    window: time::Duration,
) -> Result<Decision, StorageError> {
    let who = who(tx, Some(user)).await?;
    decide_for(tx, application, &who, request, window).await
}

/// The applications `user` may open, by name: what their launcher lists. The others
/// stay hidden. The user is read once for all of them.
pub async fn applications_for(
    tx: &mut Tx,
    user: UserId,
    request: &RequestInput,
    window: time::Duration,
) -> Result<Vec<Application>, StorageError> {
    let who = who(tx, Some(user)).await?;
    let mut open = Vec::new();
    for application in applications::list(tx).await? {
        if decide_for(tx, &application, &who, request, window)
            .await?
            .passing
        {
            open.push(application);
        }
    }
    Ok(open)
}

async fn decide_for(
    tx: &mut Tx,
    application: &Application,
    who: &Who,
    request: &RequestInput,
    window: time::Duration,
) -> Result<Decision, StorageError> {
    let mut input = Input::default()
        .with_request(request)
        .with_application(&ApplicationInput {
            slug: application.slug.clone(),
            name: application.name.clone(),
            group: application.group_name.clone(),
        });
    if let Some(user) = &who.user {
        input = input.with_user(user);
    }
    let situation = Situation {
        input,
        user: who.subject.user,
        login_name: who.user.as_ref().map(|u| u.username.clone()),
        client_ip: request.ip.clone(),
        reputation_window: window,
        prompt_answer: None,
        now: request.time,
    };
    let bindings = bindings_of_target(tx, BindingTarget::Application(application.id)).await?;
    let verdicts = evaluate(tx, &bindings, &situation).await?;
    Ok(decide(
        &bindings,
        application.policy_engine_mode,
        &who.subject,
        &verdicts,
    ))
}

#[cfg(test)]
mod tests;
