//! What each stage kind does with a request: show its challenge, or take an answer.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use gatehouse_config::objects::{
    self, DenyStage, IdentificationStage, PasswordStage, PromptStage, PromptType, RedirectMode,
    RedirectStage, UserCreationMode, UserField, UserLoginStage, UserWriteStage,
};
use serde_json::{Map, Value as Json};

use super::challenge::{Challenge, FieldError, FlowInfo};
use super::{Effects, FlowError, FlowState, RequestInfo};
use crate::Timestamp;
use crate::ids::{FlowId, GroupId, PolicyId, StageId, UserId};
use crate::secrets::{PasswordCost, hash_key, hash_password, random_key, verify_password};
use crate::storage::events::{self, NewEvent};
use crate::storage::sessions::{self, NewSession};
use crate::storage::stages::Stage;
use crate::storage::users::{self, NewUser, User};
use crate::storage::{StorageError, Tx, flows, groups, stages};

mod consent;

/// The one message every failed sign-in gets, whatever failed: no hint at which
/// accounts exist or which part was wrong.
pub(super) const FAILED: &str = "Failed to authenticate.";

/// How long a session lasts when the stage says `seconds=0` (until the browser closes):
/// the server still forgets it after this.
const BROWSER_SESSION_CEILING: time::Duration = time::Duration::days(1);

/// Shown instead of checking the password while sign-ins are locked.
pub(super) const LOCKED: &str = "Too many failed sign-ins; try again in a few minutes.";

/// Events that login throttling counts.
pub(crate) const LOGIN_FAILED: &str = "login_failed";
pub(crate) const LOGIN_SUCCEEDED: &str = "login";

/// How long login events are kept: long enough for any throttle window and an audit.
const LOGIN_EVENT_RETENTION: time::Duration = time::Duration::days(30);

/// The throttle key of what the user typed: failures count per name, in any case.
pub(crate) fn throttle_key(typed: &str) -> String {
    typed.trim().to_lowercase()
}

/// How recent failures stand for `typed` and this client.
struct Failures {
    /// Consecutive failures for the name.
    by_user: i64,
    /// Sign-in is refused until they age out.
    locked: bool,
}

impl Failures {
    /// How long to hold the answer to the next failure: 1 s from the second
    /// consecutive failure, doubling, at most 8 s.
    fn delay_after_next(&self) -> Option<std::time::Duration> {
        let failures = self.by_user + 1;
        (failures >= 2).then(|| {
            let exponent = u32::try_from((failures - 2).min(3)).unwrap_or(3);
            std::time::Duration::from_secs(1 << exponent)
        })
    }
}

/// How sign-ins for `typed`, and from this client, stand now.
async fn failures(tx: &mut Tx, typed: &str, request: &RequestInfo) -> Result<Failures, FlowError> {
    let since = request.now + -request.throttle.window;
    let key = throttle_key(typed);
    let by_user =
        events::count_failures_since_success(tx, LOGIN_FAILED, LOGIN_SUCCEEDED, &key, false, since)
            .await?;
    if by_user >= i64::from(request.throttle.per_user) {
        return Ok(Failures {
            by_user,
            locked: true,
        });
    }
    if request.client_ip.is_empty() {
        return Ok(Failures {
            by_user,
            locked: false,
        });
    }
    let by_ip = events::count_failures_since_success(
        tx,
        LOGIN_FAILED,
        LOGIN_SUCCEEDED,
        &request.client_ip,
        true,
        since,
    )
    .await?;
    Ok(Failures {
        by_user,
        locked: by_ip >= i64::from(request.throttle.per_ip),
    })
}

/// Records a sign-in attempt for throttling and the event log. The username column
/// holds the throttle key (what was typed), the context the account it matched.
async fn record_attempt(
    tx: &mut Tx,
    typed: &str,
    user: Option<&User>,
    succeeded: bool,
    request: &RequestInfo,
) -> Result<(), FlowError> {
    let mut event = NewEvent::new(
        if succeeded {
            LOGIN_SUCCEEDED
        } else {
            LOGIN_FAILED
        },
        LOGIN_EVENT_RETENTION,
    );
    event.username = throttle_key(typed);
    event.user_id = user.map(|u| u.id);
    event.client_ip = request.client_ip.clone();
    event.context = serde_json::json!({"user_agent": request.user_agent});
    events::record(tx, event, request.now).await?;
    Ok(())
}

/// What a stage decided.
pub(super) enum StageResult {
    /// Show this and wait for an answer.
    Show(Challenge),
    /// The stage is done; go to the next.
    Done,
    /// The flow ends with this message.
    Deny(String),
    /// The flow ends by sending the user there.
    Redirect(String),
    /// Too many failures: the flow starts over, showing this message.
    Restart(String),
}

/// What a stage works with.
pub(super) struct Context<'a> {
    pub tx: &'a mut Tx,
    pub flow: &'a crate::storage::flows::Flow,
    pub state: &'a mut FlowState,
    pub request: &'a RequestInfo,
    pub flow_info: &'a FlowInfo,
    pub answer: Option<&'a Map<String, Json>>,
    pub effects: &'a mut Effects,
}

fn text<'a>(answer: &'a Map<String, Json>, field: &str) -> &'a str {
    answer.get(field).and_then(Json::as_str).unwrap_or_default()
}

fn settings<T: serde::de::DeserializeOwned + Default>(stage: &Stage) -> T {
    // Stored settings were checked when written; a row from an older version that no
    // longer fits runs with the defaults rather than breaking sign-in.
    objects::deserialize(stage.settings.clone()).unwrap_or_default()
}

/// Runs `stage` for the current request.
pub(super) async fn run(stage: &Stage, ctx: Context<'_>) -> Result<StageResult, FlowError> {
    match stage.kind.as_str() {
        "identification" => identification(settings(stage), ctx).await,
        "password" => password(settings(stage), ctx).await,
        "user_login" => user_login(settings(stage), ctx).await,
        "user_logout" => user_logout(ctx).await,
        "deny" => {
            let deny: DenyStage = settings(stage);
            Ok(StageResult::Deny(if deny.deny_message.is_empty() {
                "Access denied.".into()
            } else {
                deny.deny_message
            }))
        }
        "redirect" => redirect(settings(stage), ctx).await,
        "prompt" => prompt(settings(stage), ctx).await,
        "user_write" => user_write(settings(stage), ctx).await,
        "consent" => consent::consent(settings(stage), ctx).await,
        other => Ok(StageResult::Deny(format!(
            "This flow uses a stage of kind {other:?}, which this version cannot run."
        ))),
    }
}

async fn flow_url(tx: &mut Tx, flow: Option<uuid::Uuid>) -> Result<Option<String>, FlowError> {
    let Some(id) = flow else { return Ok(None) };
    Ok(flows::get(tx, FlowId(id))
        .await?
        .map(|f| format!("/if/flow/{}/", f.slug)))
}

/// The users `typed` names under the stage's rules; a username match wins over an
/// email match, and several email matches name nobody.
async fn find_user(
    tx: &mut Tx,
    settings: &IdentificationStage,
    typed: &str,
) -> Result<Option<User>, FlowError> {
    let by_username = settings.user_fields.contains(&UserField::Username);
    let by_email = settings.user_fields.contains(&UserField::Email);
    let same = |a: &str| {
        if settings.case_insensitive_matching {
            a.to_lowercase() == typed.to_lowercase()
        } else {
            a == typed
        }
    };
    let candidates = users::find_by_login_ignoring_case(tx, typed).await?;
    if by_username && let Some(user) = candidates.iter().find(|u| same(&u.username)) {
        return Ok(Some(user.clone()));
    }
    if by_email {
        let emails: Vec<&User> = candidates
            .iter()
            .filter(|u| !u.email.is_empty() && same(&u.email))
            .collect();
        if let [one] = emails.as_slice() {
            return Ok(Some((*one).clone()));
        }
    }
    Ok(None)
}

/// Whether `password` signs `user` in: active, with a usable password that matches.
/// Without a hash to check, a stand-in hash of the same cost is checked anyway, so
/// the answer takes as long for an unknown name as for a wrong password.
fn password_ok(user: Option<&User>, password: &str, cost: PasswordCost) -> bool {
    match user.and_then(|u| u.password_hash.as_deref().map(|hash| (u, hash))) {
        Some((user, hash)) => verify_password(password, hash) && user.is_active,
        None => {
            static STAND_IN: OnceLock<Option<String>> = OnceLock::new();
            if let Some(hash) = STAND_IN
                .get_or_init(|| hash_password("not a password", cost).ok())
                .as_deref()
            {
                verify_password(password, hash);
            }
            false
        }
    }
}

async fn identification(
    settings: IdentificationStage,
    mut ctx: Context<'_>,
) -> Result<StageResult, FlowError> {
    let inline: Option<PasswordStage> = match settings.password_stage {
        Some(id) => stages::get(ctx.tx, StageId(id))
            .await?
            .map(|s| self::settings(&s)),
        None => None,
    };
    let has_password = inline.is_some();
    let show = |tx_errors: BTreeMap<String, Vec<FieldError>>,
                enroll_url: Option<String>,
                recovery_url: Option<String>| {
        StageResult::Show(Challenge::Identification {
            flow_info: ctx.flow_info.clone(),
            user_fields: settings
                .user_fields
                .iter()
                .map(|f| match f {
                    UserField::Username => "username".to_owned(),
                    UserField::Email => "email".to_owned(),
                })
                .collect(),
            password_fields: has_password,
            enroll_url,
            recovery_url,
            response_errors: tx_errors,
        })
    };
    let enroll_url = flow_url(ctx.tx, settings.enrollment_flow).await?;
    let recovery_url = flow_url(ctx.tx, settings.recovery_flow).await?;
    let Some(answer) = ctx.answer else {
        return Ok(show(BTreeMap::new(), enroll_url, recovery_url));
    };
    let typed = text(answer, "uid_field").trim().to_owned();
    if typed.is_empty() {
        let errors = BTreeMap::from([(
            "uid_field".to_owned(),
            vec![FieldError {
                string: "This field is required.".into(),
                code: "required".into(),
            }],
        )]);
        return Ok(show(errors, enroll_url, recovery_url));
    }
    let user = find_user(ctx.tx, &settings, &typed).await?;
    if let Some(password_settings) = inline {
        let password = text(answer, "password");
        let limit = password_settings.failed_attempts_before_cancel;
        let message = match check_password(&mut ctx, &typed, user.as_ref(), password, limit).await?
        {
            Checked::Passed => {
                ctx.state.pending_user = user.map(|u| u.id);
                return Ok(StageResult::Done);
            }
            Checked::Restart => return Ok(restart()),
            Checked::Locked => LOCKED,
            Checked::Failed => FAILED,
        };
        return Ok(show(
            Challenge::form_error(message),
            enroll_url,
            recovery_url,
        ));
    }
    match user {
        Some(user) => ctx.state.pending_user = Some(user.id),
        None if settings.pretend_user_exists => ctx.state.pending_user = None,
        None => {
            return Ok(show(
                Challenge::form_error(FAILED),
                enroll_url,
                recovery_url,
            ));
        }
    }
    ctx.state.pending_identifier = Some(typed);
    Ok(StageResult::Done)
}

async fn pending_user(tx: &mut Tx, state: &FlowState) -> Result<Option<User>, FlowError> {
    Ok(match state.pending_user {
        Some(id) => users::get(tx, id).await?,
        None => None,
    })
}

async fn password(settings: PasswordStage, mut ctx: Context<'_>) -> Result<StageResult, FlowError> {
    let user = pending_user(ctx.tx, ctx.state).await?;
    let Some(shown_name) = user
        .as_ref()
        .map(|u| u.username.clone())
        .or_else(|| ctx.state.pending_identifier.clone())
    else {
        return Ok(StageResult::Deny("No user to check a password for.".into()));
    };
    let show = |errors| {
        StageResult::Show(Challenge::Password {
            flow_info: ctx.flow_info.clone(),
            pending_user: shown_name.clone(),
            allow_show_password: settings.allow_show_password,
            response_errors: errors,
        })
    };
    let Some(answer) = ctx.answer else {
        return Ok(show(BTreeMap::new()));
    };
    let typed = ctx
        .state
        .pending_identifier
        .clone()
        .unwrap_or_else(|| shown_name.clone());
    let password = text(answer, "password");
    let limit = settings.failed_attempts_before_cancel;
    Ok(
        match check_password(&mut ctx, &typed, user.as_ref(), password, limit).await? {
            Checked::Passed => StageResult::Done,
            Checked::Restart => restart(),
            Checked::Locked => show(Challenge::form_error(LOCKED)),
            Checked::Failed => show(Challenge::form_error(FAILED)),
        },
    )
}

/// How a password answer went.
enum Checked {
    Passed,
    Failed,
    /// Sign-ins for the name or the client are locked; the password was not checked.
    Locked,
    /// Too many wrong answers in this flow.
    Restart,
}

fn restart() -> StageResult {
    StageResult::Restart("Too many failed attempts; start again.".into())
}

/// Checks a password answer the same way wherever one is asked (the password stage,
/// or inline in identification): throttle first, then the hash, then the record,
/// the slow-down and the flow's attempt count.
async fn check_password(
    ctx: &mut Context<'_>,
    typed: &str,
    user: Option<&User>,
    password: &str,
    max_attempts: u32,
) -> Result<Checked, FlowError> {
    let failures = failures(ctx.tx, typed, ctx.request).await?;
    if failures.locked {
        return Ok(Checked::Locked);
    }
    let ok = password_ok(user, password, ctx.request.password_cost);
    record_attempt(ctx.tx, typed, user, ok, ctx.request).await?;
    if ok {
        ctx.state.auth_methods.push("pwd".into());
        return Ok(Checked::Passed);
    }
    ctx.effects.delay = failures.delay_after_next();
    ctx.state.attempts += 1;
    Ok(if ctx.state.attempts >= max_attempts.max(1) {
        Checked::Restart
    } else {
        Checked::Failed
    })
}

fn duration(delta: &objects::TimeDelta) -> time::Duration {
    time::Duration::try_from(delta.duration()).unwrap_or(time::Duration::MAX)
}

async fn user_login(settings: UserLoginStage, ctx: Context<'_>) -> Result<StageResult, FlowError> {
    let Some(user) = pending_user(ctx.tx, ctx.state).await? else {
        // Reached without an identified user (pretend_user_exists and no password
        // stage between): nobody signs in.
        return Ok(StageResult::Deny(FAILED.into()));
    };
    if !user.is_active {
        return Ok(StageResult::Deny(FAILED.into()));
    }
    let offset = duration(&settings.remember_me_offset);
    if offset > time::Duration::ZERO {
        match ctx.answer {
            None => {
                return Ok(StageResult::Show(Challenge::UserLogin {
                    flow_info: ctx.flow_info.clone(),
                    pending_user: user.username.clone(),
                }));
            }
            Some(answer) => {
                ctx.state.remember_me = answer
                    .get("remember_me")
                    .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("on"));
            }
        }
    }
    let now = ctx.request.now;
    let base = duration(&settings.session_duration);
    let browser_session = base == time::Duration::ZERO && !ctx.state.remember_me;
    let lifetime = if base == time::Duration::ZERO {
        BROWSER_SESSION_CEILING
    } else {
        base
    } + if ctx.state.remember_me {
        offset
    } else {
        time::Duration::ZERO
    };
    let expires_at = now + lifetime;
    if settings.terminate_other_sessions
        && !sessions::revoke_all_for_user(ctx.tx, user.id, now)
            .await?
            .is_empty()
    {
        ctx.effects.sessions_revoked = true;
    }
    let key = random_key()?;
    sessions::create(
        ctx.tx,
        NewSession {
            key_hash: hash_key(&key),
            user_id: user.id,
            auth_methods: Json::from(ctx.state.auth_methods.clone()),
            client_ip: ctx.request.client_ip.clone(),
            user_agent: ctx.request.user_agent.clone(),
            expires_at,
        },
        now,
    )
    .await?;
    users::record_login(ctx.tx, user.id, now).await?;
    let cookie_expiry: Option<Timestamp> = (!browser_session).then_some(expires_at);
    ctx.effects.login = Some((key, cookie_expiry));
    Ok(StageResult::Done)
}

async fn user_logout(ctx: Context<'_>) -> Result<StageResult, FlowError> {
    if let Some(key) = &ctx.request.session_key
        && let Some(session) =
            sessions::find_active_by_key_hash(ctx.tx, &hash_key(key), ctx.request.now).await?
    {
        ctx.effects.sessions_revoked |=
            sessions::revoke(ctx.tx, session.id, ctx.request.now).await?;
    }
    ctx.effects.logout = true;
    Ok(StageResult::Done)
}

async fn redirect(settings: RedirectStage, ctx: Context<'_>) -> Result<StageResult, FlowError> {
    match settings.mode {
        RedirectMode::Static => Ok(StageResult::Redirect(settings.target_static)),
        RedirectMode::Flow => match flow_url(ctx.tx, settings.target_flow).await? {
            Some(url) => Ok(StageResult::Redirect(url)),
            None => Ok(StageResult::Deny(
                "The flow to continue with is gone.".into(),
            )),
        },
    }
}

fn field_error(message: &str, code: &str) -> Vec<FieldError> {
    vec![FieldError {
        string: message.to_owned(),
        code: code.to_owned(),
    }]
}

async fn prompt(settings: PromptStage, ctx: Context<'_>) -> Result<StageResult, FlowError> {
    let show = |errors| {
        StageResult::Show(Challenge::Prompt {
            flow_info: ctx.flow_info.clone(),
            fields: settings.fields.clone(),
            response_errors: errors,
        })
    };
    let Some(answer) = ctx.answer else {
        return Ok(show(BTreeMap::new()));
    };
    let mut errors: BTreeMap<String, Vec<FieldError>> = BTreeMap::new();
    let mut data = BTreeMap::new();
    for field in &settings.fields {
        let given = text(answer, &field.field_key);
        let value = match field.kind {
            PromptType::Checkbox => Json::Bool(
                answer
                    .get(&field.field_key)
                    .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("on")),
            ),
            PromptType::Hidden => Json::String(field.initial_value.clone()),
            _ => Json::String(given.trim_end_matches(['\r', '\n']).to_owned()),
        };
        let empty = matches!(&value, Json::String(s) if s.is_empty()) || value == Json::Bool(false);
        if field.required && empty {
            errors.insert(
                field.field_key.clone(),
                field_error("This field is required.", "required"),
            );
            continue;
        }
        if field.kind == PromptType::Email
            && !empty
            && !given.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !given.contains(char::is_whitespace)
            })
        {
            errors.insert(
                field.field_key.clone(),
                field_error("Enter a valid email address.", "invalid"),
            );
            continue;
        }
        data.insert(field.field_key.clone(), value);
    }
    let has = |key: &str| settings.fields.iter().any(|f| f.field_key == key);
    if settings.validate_password_repeat
        && has("password")
        && has("password_repeat")
        && text(answer, "password") != text(answer, "password_repeat")
    {
        errors.insert(
            "password_repeat".into(),
            field_error("The passwords do not match.", "invalid"),
        );
    }
    if !errors.is_empty() {
        return Ok(show(errors));
    }
    if !settings.validation_policies.is_empty() {
        let public: BTreeMap<String, Json> = data
            .iter()
            .filter(|(key, _)| {
                settings
                    .fields
                    .iter()
                    .any(|f| &f.field_key == *key && f.kind != PromptType::Password)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let clear: Map<String, Json> = data.clone().into_iter().collect();
        let ids: Vec<PolicyId> = settings
            .validation_policies
            .iter()
            .map(|id| PolicyId(*id))
            .collect();
        let messages = super::executor::validate_prompt(
            ctx.tx,
            ctx.flow,
            ctx.state,
            ctx.request,
            &ids,
            &public,
            &clear,
        )
        .await?;
        if !messages.is_empty() {
            let errors = messages
                .iter()
                .map(|m| FieldError {
                    string: m.clone(),
                    code: "invalid".into(),
                })
                .collect();
            return Ok(show(BTreeMap::from([(
                "non_field_errors".to_owned(),
                errors,
            )])));
        }
    }
    // Passwords are hashed now: the flow state is stored, and must not hold them.
    data.remove("password_repeat");
    for field in settings
        .fields
        .iter()
        .filter(|f| f.kind == PromptType::Password)
    {
        if let Some(Json::String(plain)) = data.get(&field.field_key)
            && !plain.is_empty()
        {
            let hash = hash_password(plain, ctx.request.password_cost)?;
            data.insert(field.field_key.clone(), Json::String(hash));
        }
    }
    ctx.state.prompt_data.extend(data);
    Ok(StageResult::Done)
}

fn prompt_text<'a>(state: &'a FlowState, key: &str) -> Option<&'a str> {
    state.prompt_data.get(key).and_then(Json::as_str)
}

async fn user_write(settings: UserWriteStage, ctx: Context<'_>) -> Result<StageResult, FlowError> {
    let now = ctx.request.now;
    let existing = match (settings.user, settings.user_creation_mode) {
        (Some(id), _) => users::get(ctx.tx, UserId(id)).await?,
        (None, UserCreationMode::AlwaysCreate) => None,
        (None, _) => pending_user(ctx.tx, ctx.state).await?,
    };
    let mut user = match existing {
        Some(user) => user,
        None if settings.user.is_some()
            || settings.user_creation_mode == UserCreationMode::NeverCreate =>
        {
            return Ok(StageResult::Deny("There is no user to write to.".into()));
        }
        None => {
            let Some(username) = prompt_text(ctx.state, "username").filter(|u| !u.is_empty())
            else {
                return Ok(StageResult::Deny("No username was given.".into()));
            };
            if users::find_by_username(ctx.tx, username).await?.is_some() {
                return Ok(StageResult::Deny("That username is taken.".into()));
            }
            let mut new = NewUser::new(username);
            new.path = settings.user_path.clone();
            new.is_active = !settings.create_users_as_inactive;
            let created = users::create(ctx.tx, new, now).await?;
            if let Some(group) = settings.create_users_group {
                groups::add_member(ctx.tx, GroupId(group), created.id).await?;
            }
            created
        }
    };
    for (key, value) in &ctx.state.prompt_data {
        match (key.as_str(), value) {
            ("username", Json::String(v)) if !v.is_empty() => user.username = v.clone(),
            ("email", Json::String(v)) => user.email = v.clone(),
            ("name", Json::String(v)) => user.name = v.clone(),
            (key, value) => {
                if let Some(attribute) = key.strip_prefix("attributes.")
                    && let Json::Object(map) = &mut user.attributes
                {
                    map.insert(attribute.to_owned(), value.clone());
                }
            }
        }
    }
    match users::update(ctx.tx, &user, now).await {
        Ok(_) => {}
        Err(StorageError::Conflict(_)) => {
            return Ok(StageResult::Deny("That username is taken.".into()));
        }
        Err(err) => return Err(err.into()),
    }
    // A prompt keeps passwords only as hashes: store the hash as it is.
    if let Some(hash) = prompt_text(ctx.state, "password").filter(|h| h.starts_with("$argon2")) {
        users::set_password_hash(ctx.tx, user.id, Some(hash), now).await?;
    }
    ctx.state.pending_user = Some(user.id);
    Ok(StageResult::Done)
}
