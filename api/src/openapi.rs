//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`, vendored: it builds offline).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::{routes, AppState};

pub(crate) mod constraints;
mod wire;

#[derive(OpenApi)]
#[openapi(
    info(title = "Loyalty engine API", description = "Points and coupons for retail brands. Native API of seed 000 under /api/crm; admin under /api/admin; seed 002's members and coupons (Convertlab DM Hub) under /loyalty/v1, with its bare answers and `{\"error\": {\"code\", \"message\"}}` errors, the key as `?access_token=` or Bearer; seed 001's points activities under /points-consumption, in its `{\"errcode\", \"errmsg\", \"data\"}` envelope, the key likewise."),
    paths(
        routes::admin::create_tenant,
        routes::admin::get_rate_limit,
        crate::audit::list,
        routes::admin::create_key,
        routes::admin::list_keys,
        routes::admin::revoke_key,
        routes::admin::set_rate_limit,
        routes::admin::list_dead_letters,
        routes::admin::replay_dead_letters,
        routes::points::rules::create_produce,
        routes::points::rules::update_produce,
        routes::points::rules::delete,
        routes::points::rules::query,
        routes::points::rules::scene_info,
        routes::points::rules::create_consume,
        routes::points::level_rules::save,
        routes::points::level_rules::delete,
        routes::points::level_rules::get,
        routes::points::rules::update_consume,
        routes::points::commands::operations::consume,
        routes::points::commands::preview,
        routes::points::commands::operations::reverse,
        routes::points::commands::operations::transfer,
        routes::points::commands::operations::accept,
        routes::points::commands::operations::freeze,
        routes::points::commands::operations::unfreeze,
        routes::points::commands::operations::post_event,
        routes::points::queries::get_event,
        routes::points::queries::explain,
        routes::outcomes::points_outcome,
        routes::outcomes::cards_outcome,
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
        routes::members::feeds::source,
        routes::members::feeds::info,
        routes::members::queries::list,
        routes::members::queries::one,
        routes::members::queries::by_identity,
        routes::members::queries::by_identities,
        routes::members::queries::by_md5,
        routes::members::queries::point_log,
        routes::members::queries::exp_log,
        routes::members::commands::create,
        routes::members::commands::update,
        routes::members::commands::bind_identity,
        routes::members::commands::update_mobile,
        routes::members::commands::delete_identity,
        routes::members::commands::erase,
        routes::members::attributes::list,
        routes::members::attributes::create,
        routes::members::attributes::remove,
        routes::members::levels::rules,
        routes::members::levels::create,
        routes::members::levels::update,
        routes::members::levels::remove,
        routes::members::levels::change_log,
        routes::members::push::register,
        routes::coupons::queries::list,
        routes::coupons::queries::one,
        routes::coupons::queries::by_channel,
        routes::coupons::queries::member_coupon,
        routes::coupons::queries::member_coupons,
        routes::coupons::commands::draw,
        routes::coupons::commands::redeem,
        routes::orders::points::incr,
        routes::orders::points::decr,
        routes::orders::commands::create,
        routes::orders::commands::update,
        routes::orders::commands::cancel,
        routes::orders::commands::refund,
        routes::orders::commands::delete_refund,
        routes::orders::commands::delete,
        routes::orders::queries::one,
        routes::analytics::queries::points_total,
        routes::analytics::queries::points_trend,
        routes::analytics::queries::points_distr,
        routes::analytics::queries::points_export,
        routes::analytics::cards::card_trend,
        routes::analytics::cards::card_channel,
        routes::analytics::cards::card_top,
        routes::analytics::page::page_link,
        routes::activities::commands::create,
        routes::activities::queries::get,
        routes::activities::queries::list,
        routes::activities::commands::update,
        routes::activities::commands::remove,
        routes::activities::commands::enable,
        routes::activities::commands::disable,
        routes::activities::commands::create_goods,
        routes::activities::queries::list_goods,
        routes::activities::commands::remove_goods,
    ),
    modifiers(&BearerAuth, &RefusalCodes),
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

/// Appends the table of refusal codes to the document's description (from the one table in
/// `schemas::response::Refusal`, so the document cannot drift from the code).
struct RefusalCodes;

impl utoipa::Modify for RefusalCodes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let text = format!(
            "{}\n\n## Refusals\n\nA command refused by a business rule, when its outcome is known within \
             `wait_ms` (or looked up later under `.../outcomes/{{key_kind}}/{{key}}`), answers an error: \
             `code` = the refusal's code, `msg` = the reason, `data` = the stored outcome. The HTTP status \
             is the code's first three digits: 409 when the request conflicts with the current state (it \
             may succeed against another), 422 when it can never succeed as asked. A duplicate answers \
             like its first outcome, with `data.duplicate` true. 202 (outcome not known yet) is code 0.\n\n{}",
            openapi.info.description.as_deref().unwrap_or_default(),
            schemas::response::Refusal::markdown_table()
        );
        openapi.info.description = Some(text);
    }
}

/// The served document: the derived one with the envelope and the shared error answers on every
/// operation ([`wire`]). JSON, because utoipa's types do not read back every schema `wire` writes.
/// Built once per process: the router is built per test request, and deriving the document each
/// time slowed the tests' busy runtimes enough to starve their other connections.
pub fn document() -> serde_json::Value {
    static DOCUMENT: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        wire::apply(&mut doc);
        constraints::apply(&mut doc);
        routes::members::docs::constrain(&mut doc);
        routes::coupons::docs::constrain(&mut doc);
        routes::activities::constrain(&mut doc);
        routes::orders::docs::constrain(&mut doc);
        doc
    });
    DOCUMENT.clone()
}

pub fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", document()))
}

#[cfg(test)]
mod tests {

    /// The document lists exactly the operations the api serves (method, path), no more, no
    /// fewer: moving a handler must not drop it from `paths(...)`.
    #[test]
    fn the_document_lists_every_operation() {
        let doc = super::document();
        let mut listed: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object().unwrap().keys().map(move |method| (method.to_uppercase(), path.clone()))
            })
            .collect();
        listed.sort();
        let expected: Vec<(String, String)> = EXPECTED.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        assert_eq!(listed, expected);
    }

    /// The description carries the table of refusal codes, row by row from the one table.
    #[test]
    fn the_description_lists_every_refusal_code() {
        let doc = super::document();
        let description = doc["info"]["description"].as_str().unwrap();
        for r in schemas::response::Refusal::ALL {
            assert!(
                description.contains(&format!("| {} | {} | `{}` |", r.code(), r.http_status(), r.as_str())),
                "{r:?}"
            );
        }
    }

    const EXPECTED: &[(&str, &str)] = &[
        ("DELETE", "/api/admin/tenants/{crm_id}/keys/{key_id}"),
        ("DELETE", "/loyalty/v1/membership/identity/{id}"),
        ("DELETE", "/loyalty/v1/settings/attributes/{code}"),
        ("DELETE", "/loyalty/v1/settings/level/{id}"),
        ("GET", "/api/admin/dlq"),
        ("GET", "/api/admin/tenants/{crm_id}/keys"),
        ("GET", "/api/admin/tenants/{crm_id}/rate_limit"),
        ("GET", "/api/crm/audit/{crm_id}"),
        ("GET", "/api/crm/card/{crm_id}/detail"),
        ("GET", "/api/crm/card/{crm_id}/list"),
        ("GET", "/api/crm/card/{crm_id}/member/card_detail"),
        ("GET", "/api/crm/card/{crm_id}/member/card_list"),
        ("GET", "/api/crm/card/{crm_id}/member/present_detail"),
        ("GET", "/api/crm/card/{crm_id}/member/present_list"),
        ("GET", "/api/crm/card/{crm_id}/member/receive_detail"),
        ("GET", "/api/crm/card/{crm_id}/outcomes/{key_kind}/{key}"),
        ("GET", "/api/crm/dashbord/{crm_id}/card_channel"),
        ("GET", "/api/crm/dashbord/{crm_id}/card_top"),
        ("GET", "/api/crm/dashbord/{crm_id}/card_trend"),
        ("GET", "/api/crm/mgr/analyze/{crm_id}/points/distr"),
        ("GET", "/api/crm/mgr/analyze/{crm_id}/points/export"),
        ("GET", "/api/crm/mgr/analyze/{crm_id}/points/total"),
        ("GET", "/api/crm/mgr/analyze/{crm_id}/points/trend"),
        ("GET", "/api/crm/mgr/points/{crm_id}/events/{event_no}"),
        ("GET", "/api/crm/mgr/points/{crm_id}/events/{event_no}/explain"),
        ("GET", "/api/crm/mgr/points/{crm_id}/outcomes/{key_kind}/{key}"),
        ("GET", "/api/crm/mgr/points/{crm_id}/scene_info"),
        ("GET", "/api/crm/mgr/points/{crm_id}/summary"),
        ("GET", "/loyalty/v1/coupon"),
        ("GET", "/loyalty/v1/coupon/{couponId}"),
        ("GET", "/loyalty/v1/couponService/getCouponByChannel"),
        ("GET", "/loyalty/v1/deal/{orderNo}"),
        ("GET", "/loyalty/v1/membership"),
        ("GET", "/loyalty/v1/membership/{id}"),
        ("GET", "/loyalty/v1/membership/{id}/coupon"),
        ("GET", "/loyalty/v1/membership/{id}/exp/changeLogs"),
        ("GET", "/loyalty/v1/membership/{id}/level/changeLogs"),
        ("GET", "/loyalty/v1/membership/{id}/point"),
        ("GET", "/loyalty/v1/membershipCoupon/{couponCode}"),
        ("GET", "/loyalty/v1/membershipService/getMembershipByIdentity"),
        ("GET", "/loyalty/v1/membershipService/getMembershipIdentityByMd5"),
        ("GET", "/loyalty/v1/settings/attributes"),
        ("GET", "/loyalty/v1/settings/level/rules"),
        ("POST", "/api/admin/dlq/replay"),
        ("POST", "/api/admin/tenants"),
        ("POST", "/api/admin/tenants/{crm_id}/keys"),
        ("POST", "/api/crm/card/{crm_id}/add/stock"),
        ("POST", "/api/crm/card/{crm_id}/create"),
        ("POST", "/api/crm/card/{crm_id}/import"),
        ("POST", "/api/crm/card/{crm_id}/member/present"),
        ("POST", "/api/crm/card/{crm_id}/member/present_receive"),
        ("POST", "/api/crm/card/{crm_id}/member/receive"),
        ("POST", "/api/crm/card/{crm_id}/member/receive_reverse"),
        ("POST", "/api/crm/card/{crm_id}/member/redeem"),
        ("POST", "/api/crm/card/{crm_id}/member/redeem_reverse"),
        ("POST", "/api/crm/card/{crm_id}/remove"),
        ("POST", "/api/crm/dashbord/{crm_id}/page_link"),
        ("POST", "/api/crm/mgr/member/{crm_id}/info/increment"),
        ("POST", "/api/crm/mgr/member/{crm_id}/source/increment"),
        ("POST", "/api/crm/mgr/points/{crm_id}/accept"),
        ("POST", "/api/crm/mgr/points/{crm_id}/consume"),
        ("POST", "/api/crm/mgr/points/{crm_id}/consume/preview"),
        ("POST", "/api/crm/mgr/points/{crm_id}/events"),
        ("POST", "/api/crm/mgr/points/{crm_id}/freeze"),
        ("POST", "/api/crm/mgr/points/{crm_id}/history"),
        ("POST", "/api/crm/mgr/points/{crm_id}/history/increment"),
        ("POST", "/api/crm/mgr/points/{crm_id}/level_rules/delete"),
        ("POST", "/api/crm/mgr/points/{crm_id}/level_rules/get"),
        ("POST", "/api/crm/mgr/points/{crm_id}/level_rules/save"),
        ("POST", "/api/crm/mgr/points/{crm_id}/reverse"),
        ("POST", "/api/crm/mgr/points/{crm_id}/rules/consume_scene"),
        ("POST", "/api/crm/mgr/points/{crm_id}/rules/consume_scene/update"),
        ("POST", "/api/crm/mgr/points/{crm_id}/rules/lot_delete"),
        ("POST", "/api/crm/mgr/points/{crm_id}/rules/produce_scene"),
        ("POST", "/api/crm/mgr/points/{crm_id}/rules/produce_scene/update"),
        ("POST", "/api/crm/mgr/points/{crm_id}/rules/query"),
        ("POST", "/api/crm/mgr/points/{crm_id}/summary/increment"),
        ("POST", "/api/crm/mgr/points/{crm_id}/transfer"),
        ("POST", "/api/crm/mgr/points/{crm_id}/unfreeze"),
        ("POST", "/loyalty/v1/appPush/register"),
        ("POST", "/loyalty/v1/deal"),
        ("POST", "/loyalty/v1/dealService/cancel"),
        ("POST", "/loyalty/v1/dealService/delete"),
        ("POST", "/loyalty/v1/dealService/deleteRefund"),
        ("POST", "/loyalty/v1/dealService/refund"),
        ("POST", "/loyalty/v1/dealService/update"),
        ("POST", "/loyalty/v1/membership/{id}/bindIdentity"),
        ("POST", "/loyalty/v1/membership/{id}/coupon/draw"),
        ("POST", "/loyalty/v1/membership/{id}/erase"),
        ("POST", "/loyalty/v1/membership/{id}/point/decr"),
        ("POST", "/loyalty/v1/membership/{id}/point/incr"),
        ("POST", "/loyalty/v1/membershipAndIdentities"),
        ("POST", "/loyalty/v1/membershipCoupon/{couponCode}/redeem"),
        ("POST", "/loyalty/v1/membershipService/listMembershipByIdentities"),
        ("POST", "/loyalty/v1/settings/attributes"),
        ("POST", "/loyalty/v1/settings/level"),
        ("POST", "/points-consumption/create"),
        ("POST", "/points-consumption/create-points-consumption-goods"),
        ("POST", "/points-consumption/del-points-consumption-goods"),
        ("POST", "/points-consumption/find-points-consumption-goods-list"),
        ("POST", "/points-consumption/find-points-consumption-list"),
        ("POST", "/points-consumption/general-del"),
        ("POST", "/points-consumption/general-disable"),
        ("POST", "/points-consumption/general-enable"),
        ("POST", "/points-consumption/get"),
        ("POST", "/points-consumption/to-update"),
        ("PUT", "/api/admin/tenants/{crm_id}/rate_limit"),
        ("PUT", "/loyalty/v1/membership/{id}"),
        ("PUT", "/loyalty/v1/membershipService/updateMobile"),
        ("PUT", "/loyalty/v1/settings/level/{id}"),
    ];
}
