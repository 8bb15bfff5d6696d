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
        routes::points::rules::create_produce,
        routes::points::rules::update_produce,
        routes::points::rules::delete,
        routes::points::rules::query,
        routes::points::rules::scene_info,
        routes::points::rules::create_consume,
        routes::points::rules::update_consume,
        routes::points::commands::consume,
        routes::points::commands::preview,
        routes::points::commands::reverse,
        routes::points::commands::transfer,
        routes::points::commands::accept,
        routes::points::commands::freeze,
        routes::points::commands::unfreeze,
        routes::points::commands::post_event,
        routes::points::queries::get_event,
        routes::points::queries::history,
        routes::points::queries::summary,
        routes::points::feeds::history,
        routes::points::feeds::summary,
        routes::cards::definitions::create,
        routes::cards::definitions::detail,
        routes::cards::definitions::list,
        routes::cards::definitions::remove,
        routes::cards::stock::add_stock,
        routes::cards::stock::import,
        routes::cards::commands::operations::receive,
        routes::cards::commands::operations::receive_reverse,
        routes::cards::queries::member_cards,
        routes::cards::queries::card_detail,
        routes::cards::queries::receive_detail,
        routes::cards::queries::present_list,
        routes::cards::queries::present_detail,
        routes::cards::commands::operations::redeem,
        routes::cards::commands::operations::redeem_reverse,
        routes::cards::commands::operations::present,
        routes::cards::commands::operations::present_receive,
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
