//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`, vendored: it builds offline).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::{routes, AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "Loyalty engine API", description = "Points and coupons for retail brands. Native API of seed 000 under /api/crm; admin under /api/admin."),
    paths(
        routes::admin::create_tenant,
        routes::admin::list_dead_letters,
        routes::admin::replay_dead_letters,
        routes::rules::create_produce,
        routes::rules::update_produce,
        routes::rules::delete,
        routes::rules::query,
        routes::rules::scene_info,
        routes::spend::create_consume,
        routes::spend::update_consume,
        routes::spend::consume,
        routes::spend::preview,
        routes::spend::reverse,
        routes::spend::transfer,
        routes::spend::accept,
        routes::spend::freeze,
        routes::spend::unfreeze,
        routes::events::post_event,
        routes::events::get_event,
        routes::history::history,
        routes::history::summary,
        routes::feeds::history,
        routes::feeds::summary,
        routes::cards::create,
        routes::cards::detail,
        routes::cards::list,
        routes::cards::remove,
        routes::cards::add_stock,
        routes::cards::import,
        routes::cards::receive,
        routes::cards::receive_reverse,
        routes::card_queries::member_cards,
        routes::card_queries::card_detail,
        routes::card_queries::receive_detail,
        routes::card_queries::present_list,
        routes::card_queries::present_detail,
        routes::cards::redeem,
        routes::cards::redeem_reverse,
        routes::cards::present,
        routes::cards::present_receive,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
