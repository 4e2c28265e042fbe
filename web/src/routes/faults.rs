//! The fault switches: a panel (`/faults`, plain forms) and a JSON API
//! (`GET /api/faults`, `PUT /api/faults/{name}`). Changes land in PostgreSQL, where
//! every web instance and the worker read them within `FAULTS_TTL_MS`.

use std::collections::HashMap;

use axum::{
    Form, Json, Router,
    extract::{Path, State, rejection::JsonRejection},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use axum_extra::extract::{
    CookieJar,
    cookie::{Cookie, SameSite},
};
use common::{
    faults::{Fault, Setting},
    session::SCOPE_COOKIE,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    error::AppError,
    fault_settings,
    pages::{FaultView, FaultsPage},
    request::Page,
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/faults", get(panel))
        .route("/faults/{name}", axum::routing::post(panel_update))
        .route("/api/faults", get(api_list))
        .route("/api/faults/{name}", get(api_get).put(api_put))
}

/// The switches are read without fault injection (`db_unavailable` must not lock the
/// panel that switches it off), straight from the pool.
async fn views(app: &AppState) -> Result<Vec<FaultView>, AppError> {
    Ok(fault_settings::list(&app.db)
        .await?
        .into_iter()
        .filter_map(|setting| {
            let fault = Fault::from_name(&setting.name)?;
            Some(FaultView {
                setting,
                description: fault.description(),
            })
        })
        .collect())
}

async fn api_list(State(app): State<AppState>) -> Result<Json<Vec<FaultView>>, AppError> {
    Ok(Json(views(&app).await?))
}

async fn api_get(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<FaultView>, AppError> {
    views(&app)
        .await?
        .into_iter()
        .find(|v| v.setting.name == name)
        .map(Json)
        .ok_or(AppError::NotFound("fault"))
}

/// Every field optional: what is left out keeps its current value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultUpdate {
    enabled: Option<bool>,
    probability: Option<f64>,
    params: Option<Map<String, Value>>,
    /// `null` clears the scope.
    #[serde(default, with = "serde_with_option")]
    scope: Option<Option<String>>,
}

/// serde: tell a missing `scope` from an explicit `null`.
mod serde_with_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

async fn api_put(
    State(app): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<FaultUpdate>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(update) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let current = current(&app, &name).await?;
    let setting = apply(current, update);
    save(&app, &setting).await?;
    Ok(Json(setting).into_response())
}

async fn current(app: &AppState, name: &str) -> Result<Setting, AppError> {
    fault_settings::list(&app.db)
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or(AppError::NotFound("fault"))
}

fn apply(mut setting: Setting, update: FaultUpdate) -> Setting {
    if let Some(enabled) = update.enabled {
        setting.enabled = enabled;
    }
    if let Some(p) = update.probability {
        setting.probability = p;
    }
    if let Some(params) = update.params
        && let Value::Object(current) = &mut setting.params
    {
        current.extend(params);
    }
    if let Some(scope) = update.scope {
        setting.scope = scope.filter(|s| !s.is_empty());
    }
    setting
}

async fn save(app: &AppState, setting: &Setting) -> Result<(), AppError> {
    setting.validate().map_err(AppError::Invalid)?;
    fault_settings::upsert(&app.db, setting).await?;
    app.faults.invalidate();
    tracing::info!(
        fault.name = setting.name,
        enabled = setting.enabled,
        probability = setting.probability,
        scope = setting.scope.as_deref(),
        "fault switched"
    );
    Ok(())
}

async fn panel(
    State(app): State<AppState>,
    page: Page,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let page = FaultsPage {
        page,
        faults: views(&app).await?,
        my_scope: jar.get(SCOPE_COOKIE).map(|c| c.value().to_owned()),
    };
    Ok(page.into_response())
}

/// The panel's form: `enabled` (checkbox), `probability`, `scope` (`everyone` | `me`),
/// and one `param.<key>` field per parameter.
async fn panel_update(
    State(app): State<AppState>,
    Path(name): Path<String>,
    jar: CookieJar,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let current = current(&app, &name).await?;
    let mut params = Map::new();
    for (key, value) in form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("param.")?, v)))
    {
        let n: u64 = value
            .trim()
            .parse()
            .map_err(|_| AppError::Invalid(format!("{key} must be a whole number")))?;
        params.insert(key.to_owned(), n.into());
    }
    let probability =
        match form.get("probability").map(|p| p.trim()) {
            None | Some("") => None,
            Some(p) => Some(p.parse::<f64>().map_err(|_| {
                AppError::Invalid("probability must be a number from 0 to 1".into())
            })?),
        };
    let mut set_cookie = None;
    let scope = match form.get("scope").map(String::as_str) {
        Some("me") => Some(Some(
            jar.get(SCOPE_COOKIE)
                .map(|c| c.value().to_owned())
                .unwrap_or_else(|| {
                    let id = format!("s-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
                    set_cookie = Some(id.clone());
                    id
                }),
        )),
        _ => Some(None),
    };
    let update = FaultUpdate {
        enabled: Some(form.contains_key("enabled")),
        probability,
        params: Some(params),
        scope,
    };
    save(&app, &apply(current, update)).await?;
    let jar = match set_cookie {
        Some(id) => jar.add(
            Cookie::build((SCOPE_COOKIE, id))
                .path("/")
                .same_site(SameSite::Lax)
                .http_only(true),
        ),
        None => jar,
    };
    Ok((jar, Redirect::to("/faults")).into_response())
}
