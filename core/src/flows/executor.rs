//! One request to a flow: find or start the flow session, plan, run stages until one
//! has something to show, save.

use serde_json::{Map, Value as Json};

use super::challenge::{Challenge, FlowInfo};
use super::stages::{self, Context, StageResult};
use super::{Effects, FlowError, FlowState, Outcome, RequestInfo, Step};
use crate::Timestamp;
use crate::expr::{FlowInput, Input, RequestInput};
use crate::ids::PolicyId;
use crate::policies::{Decision, Situation, Subject, Who, decide, evaluate, who};
use crate::secrets::{hash_key, random_key};
use crate::storage::flow_sessions::{self, FlowSession};
use crate::storage::flows::{self, DeniedAction, Flow, FlowAuthentication, InvalidResponseAction};
use crate::storage::policies::{self, BindingTarget, PolicyEngineMode};
use crate::storage::{Store, Tx};

/// How long a flow may sit between two answers before it starts over.
const FLOW_TTL: time::Duration = time::Duration::minutes(30);

/// Runs flow `slug` for one request. `flow_key` is the flow cookie's value; `answer`
/// the submitted form or JSON body (`None` shows the current challenge).
pub async fn run(
    store: &Store,
    slug: &str,
    flow_key: Option<&str>,
    answer: Option<&Map<String, Json>>,
    request: &RequestInfo,
) -> Result<Outcome, FlowError> {
    run_with(store, slug, Start::Resume(flow_key), answer, request).await
}

/// Starts authorization flow `slug` afresh for the OAuth2 request `pending`; when it
/// completes, the code is issued and the outcome redirects to the client. A flow with
/// nothing to show (implicit consent) completes in this one call.
pub async fn authorize(
    store: &Store,
    slug: &str,
    pending: crate::oauth2::PendingAuthorization,
    request: &RequestInfo,
) -> Result<Outcome, FlowError> {
    run_with(
        store,
        slug,
        Start::Authorize(Box::new(pending)),
        None,
        request,
    )
    .await
}

/// How a run finds its flow session.
enum Start<'a> {
    /// The one the flow cookie names, or a new one.
    Resume(Option<&'a str>),
    /// Always a new one, carrying an authorization request.
    Authorize(Box<crate::oauth2::PendingAuthorization>),
}

async fn run_with(
    store: &Store,
    slug: &str,
    start: Start<'_>,
    answer: Option<&Map<String, Json>>,
    request: &RequestInfo,
) -> Result<Outcome, FlowError> {
    let mut tx = store.begin().await?;
    let outcome = run_in(&mut tx, slug, start, answer, request).await;
    match outcome {
        Ok(outcome) => {
            tx.commit().await?;
            Ok(outcome)
        }
        Err(err) => {
            tx.rollback().await?;
            Err(err)
        }
    }
}

/// What the policies of a check in `flow` see.
pub(super) fn situation(
    who: &Who,
    flow: &Flow,
    state: &FlowState,
    request: &RequestInfo,
) -> Situation {
    let mut input = Input::default()
        .with_request(&RequestInput {
            ip: request.client_ip.clone(),
            host: request.host.clone(),
            path: request.path.clone(),
            method: request.method.clone(),
            user_agent: request.user_agent.clone(),
            headers: request.headers.clone(),
            time: request.now,
        })
        .with_flow(&FlowInput {
            slug: flow.slug.clone(),
            designation: flow.designation.to_string(),
            // Passwords are kept only as hashes, and even those stay out of sight.
            prompt_data: state
                .prompt_data
                .iter()
                .filter(|(_, v)| !v.as_str().is_some_and(|s| s.starts_with("$argon2")))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            pending_user: state.pending_user.and(who.user.clone()),
        });
    if let Some(user) = &who.user {
        input = input.with_user(user);
    }
    Situation {
        input,
        user: who.subject.user,
        login_name: state
            .pending_identifier
            .clone()
            .or_else(|| who.user.as_ref().map(|u| u.username.clone())),
        client_ip: request.client_ip.clone(),
        reputation_window: request.throttle.window,
        prompt_answer: None,
        now: request.now,
    }
}

fn flow_info(flow: &Flow) -> FlowInfo {
    FlowInfo {
        title: if flow.title.is_empty() {
            flow.name.clone()
        } else {
            flow.title.clone()
        },
        slug: flow.slug.clone(),
        layout: flow.layout.to_string(),
        background: flow.background.clone(),
    }
}

fn denied(flow: &Flow, message: impl Into<String>) -> Challenge {
    Challenge::AccessDenied {
        flow_info: flow_info(flow),
        error_message: message.into(),
    }
}

/// What a caller the flow's policies refuse gets, per the flow's `denied_action`: the
/// reason, or a redirect to where they were going.
fn plan_denied(flow: &Flow, messages: Vec<String>, request: &RequestInfo) -> Challenge {
    match (flow.denied_action, &request.next) {
        (DeniedAction::Continue, next) => Challenge::Redirect {
            to: next.clone().unwrap_or_else(|| "/".into()),
        },
        (DeniedAction::MessageContinue, Some(next)) => Challenge::Redirect { to: next.clone() },
        (DeniedAction::Message | DeniedAction::MessageContinue, _) => {
            denied(flow, messages.join(" "))
        }
    }
}

async fn run_in(
    tx: &mut Tx,
    slug: &str,
    start: Start<'_>,
    mut answer: Option<&Map<String, Json>>,
    request: &RequestInfo,
) -> Result<Outcome, FlowError> {
    let flow = flows::find_by_slug(tx, slug)
        .await?
        .ok_or_else(|| FlowError::UnknownFlow(slug.to_owned()))?;
    let now = request.now;
    let mut effects = Effects::default();
    let session_who = who(tx, request.session_user).await?;
    let superuser = session_who.superuser;
    match flow.authentication {
        FlowAuthentication::None => {}
        FlowAuthentication::RequireAuthenticated if request.session_user.is_none() => {
            return Ok(done(denied(&flow, "You need to sign in first."), effects));
        }
        FlowAuthentication::RequireUnauthenticated if request.session_user.is_some() => {
            // Already signed in: nothing to do here, go on.
            let to = request.next.clone().unwrap_or_else(|| "/".into());
            return Ok(done(Challenge::Redirect { to }, effects));
        }
        FlowAuthentication::RequireSuperuser if !superuser => {
            return Ok(done(
                denied(&flow, "Only administrators may use this."),
                effects,
            ));
        }
        FlowAuthentication::RequireOutpost => {
            return Ok(done(denied(&flow, "This flow is for outposts."), effects));
        }
        _ => {}
    }

    let (flow_key, authorization) = match start {
        Start::Resume(key) => (key, None),
        Start::Authorize(pending) => (None, Some(*pending)),
    };
    let existing = match flow_key {
        Some(key) => flow_sessions::find_active(tx, &hash_key(key), flow.id, now).await?,
        None => None,
    };
    let (session, mut state) = match existing {
        Some(session) => {
            let state: FlowState =
                serde_json::from_value(session.state.clone()).unwrap_or_default();
            (session, state)
        }
        None => {
            // A fresh start: an answer meant for a session that expired is not applied.
            answer = None;
            let mut state = match plan(tx, &flow, &session_who, request).await? {
                Ok(state) => state,
                Err(messages) => return Ok(done(plan_denied(&flow, messages, request), effects)),
            };
            state.authorization = authorization;
            let key = random_key()?;
            let session = flow_sessions::create(
                tx,
                hash_key(&key),
                flow.id,
                serde_json::to_value(&state).unwrap_or_default(),
                now,
                now + FLOW_TTL,
            )
            .await?;
            effects.set_flow_key = Some(key);
            (session, state)
        }
    };
    let info = flow_info(&flow);
    let mut restart_message: Option<String> = None;
    loop {
        let Some(step) = state.plan.get(state.position).cloned() else {
            // Every stage is done.
            flow_sessions::delete(tx, session.id).await?;
            effects.clear_flow_key = true;
            let challenge = match &state.authorization {
                Some(pending) => match crate::oauth2::fulfil(tx, pending, request).await? {
                    Ok(to) => Challenge::Redirect { to },
                    Err(message) => denied(&flow, message),
                },
                None => Challenge::Redirect {
                    to: state.next.clone().unwrap_or_else(|| "/".into()),
                },
            };
            return Ok(Outcome { challenge, effects });
        };
        let (Some(binding), Some(stage)) = (
            flows::get_binding(tx, step.binding).await?,
            crate::storage::stages::get(tx, step.stage).await?,
        ) else {
            // The flow was edited under this run: skip what no longer exists.
            state.position += 1;
            continue;
        };
        if binding.re_evaluate_policies {
            let user = state.pending_user.or(request.session_user);
            let current = who(tx, user).await?;
            let seen = situation(&current, &flow, &state, request);
            let target = BindingTarget::StageBinding(binding.id);
            if !check(
                tx,
                target,
                binding.policy_engine_mode,
                &current.subject,
                &seen,
            )
            .await?
            .passing
            {
                state.position += 1;
                answer = None;
                continue;
            }
        }
        let ctx = Context {
            tx: &mut *tx,
            flow: &flow,
            state: &mut state,
            request,
            flow_info: &info,
            answer,
            effects: &mut effects,
        };
        let answered = answer.is_some();
        match stages::run(&stage, ctx).await? {
            // An answer that leaves the stage showing was refused.
            StageResult::Show(challenge)
                if answered && binding.invalid_response_action != InvalidResponseAction::Retry =>
            {
                let message = challenge.first_error().map(str::to_owned);
                let keep_context =
                    binding.invalid_response_action == InvalidResponseAction::RestartWithContext;
                state = match plan(tx, &flow, &session_who, request).await? {
                    Ok(fresh) => restarted(fresh, state, keep_context),
                    Err(messages) => {
                        return Ok(done(plan_denied(&flow, messages, request), effects));
                    }
                };
                restart_message = message;
                answer = None;
            }
            StageResult::Show(mut challenge) => {
                if let Some(message) = restart_message.take() {
                    challenge.set_form_error(&message);
                }
                save(tx, &session, &state, now).await?;
                return Ok(Outcome { challenge, effects });
            }
            StageResult::Done => {
                state.position += 1;
                state.attempts = 0;
                answer = None;
            }
            StageResult::Deny(message) => {
                flow_sessions::delete(tx, session.id).await?;
                effects.clear_flow_key = true;
                return Ok(Outcome {
                    challenge: denied(&flow, message),
                    effects,
                });
            }
            StageResult::Redirect(to) => {
                flow_sessions::delete(tx, session.id).await?;
                effects.clear_flow_key = true;
                return Ok(Outcome {
                    challenge: Challenge::Redirect { to },
                    effects,
                });
            }
            StageResult::Restart(message) => {
                state = match plan(tx, &flow, &session_who, request).await? {
                    Ok(fresh) => restarted(fresh, state, false),
                    Err(messages) => {
                        return Ok(done(plan_denied(&flow, messages, request), effects));
                    }
                };
                restart_message = Some(message);
                answer = None;
            }
        }
    }
}

/// The state of a flow started over on the `fresh` plan: where to go afterwards is
/// kept, and with `keep_context` also what the run had gathered (pending user, prompt
/// data, how the user proved who they are).
fn restarted(fresh: FlowState, old: FlowState, keep_context: bool) -> FlowState {
    if keep_context {
        FlowState {
            plan: fresh.plan,
            position: 0,
            attempts: 0,
            ..old
        }
    } else {
        FlowState {
            next: old.next,
            authorization: old.authorization,
            ..fresh
        }
    }
}

fn done(challenge: Challenge, effects: Effects) -> Outcome {
    Outcome { challenge, effects }
}

async fn save(
    tx: &mut Tx,
    session: &FlowSession,
    state: &FlowState,
    now: Timestamp,
) -> Result<(), FlowError> {
    let json = serde_json::to_value(state).unwrap_or_default();
    flow_sessions::save_state(tx, session.id, &json, now, now + FLOW_TTL).await?;
    Ok(())
}

/// The plan of `flow` for `subject`: the flow's own policies must pass, and stage
/// bindings with `evaluate_on_plan` are kept only when theirs pass. `Err` carries the
/// messages of a flow the subject may not run.
async fn plan(
    tx: &mut Tx,
    flow: &Flow,
    who: &Who,
    request: &RequestInfo,
) -> Result<Result<FlowState, Vec<String>>, FlowError> {
    let seen = situation(who, flow, &FlowState::default(), request);
    let subject = &who.subject;
    let decision = check(
        tx,
        BindingTarget::Flow(flow.id),
        flow.policy_engine_mode,
        subject,
        &seen,
    )
    .await?;
    if !decision.passing {
        let mut messages = decision.messages;
        if messages.is_empty() {
            messages.push("You may not use this flow.".into());
        }
        return Ok(Err(messages));
    }
    let mut steps = Vec::new();
    for binding in flows::bindings_of_flow(tx, flow.id).await? {
        if binding.evaluate_on_plan {
            let target = BindingTarget::StageBinding(binding.id);
            if !check(tx, target, binding.policy_engine_mode, subject, &seen)
                .await?
                .passing
            {
                continue;
            }
        }
        steps.push(Step {
            binding: binding.id,
            stage: binding.stage_id,
        });
    }
    Ok(Ok(FlowState {
        plan: steps,
        next: request.next.clone(),
        ..FlowState::default()
    }))
}

/// The messages of the `policies` a prompt's answers fail (empty: all pass). `public`
/// holds the answers expressions may see (`flow.prompt_data`, no passwords), `clear`
/// every answer as typed (what password policies check).
pub(super) async fn validate_prompt(
    tx: &mut Tx,
    flow: &Flow,
    state: &FlowState,
    request: &RequestInfo,
    policies: &[PolicyId],
    public: &std::collections::BTreeMap<String, serde_json::Value>,
    clear: &Map<String, Json>,
) -> Result<Vec<String>, FlowError> {
    let current = who(tx, state.pending_user.or(request.session_user)).await?;
    let mut shown = state.clone();
    shown.prompt_data.extend(public.clone());
    let mut seen = situation(&current, flow, &shown, request);
    seen.prompt_answer = Some(clear.clone());
    let verdicts = crate::policies::evaluate_ids(tx, policies, &seen).await?;
    let mut messages = Vec::new();
    for id in policies {
        match verdicts.get(id).map(|r| &r.result) {
            Some(Ok(verdict)) if verdict.passing => {}
            Some(Ok(verdict)) if !verdict.messages.is_empty() => {
                messages.extend(verdict.messages.iter().cloned());
            }
            Some(Ok(_)) => messages.push("The answer was not accepted.".to_owned()),
            Some(Err(_)) => messages.push("A policy could not be evaluated.".to_owned()),
            None => {}
        }
    }
    Ok(messages)
}

/// Decides the policy bindings of `target` for `subject` in `situation`.
async fn check(
    tx: &mut Tx,
    target: BindingTarget,
    mode: PolicyEngineMode,
    subject: &Subject,
    situation: &Situation,
) -> Result<Decision, FlowError> {
    let bindings = policies::bindings_of_target(tx, target).await?;
    let verdicts = evaluate(tx, &bindings, situation).await?;
    Ok(decide(&bindings, mode, subject, &verdicts))
}

#[cfg(test)]
mod tests;
