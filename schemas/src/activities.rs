//! Seed 001's spend-based points activities (积分活动): the request bodies of the ten
//! `/points-consumption/` endpoints with their checks, and [`Activity`], an activity as the
//! rule cache carries it to the earn worker, with the award it gives an order ([`Activity::bonus`]).
//!
//! Every field of a body is optional to serde and required here, so a missing field is named
//! with its block (`activity.name`, `pointsConsumption.amount`) rather than by serde's bare name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    checks::{check_len, check_range},
    money::Cents,
    FieldError,
};

/// The seed's `Integer(11)`.
pub const MAX_INT11: i64 = 2_147_483_647;
/// Points an activity may give at most per award (the points API's own bound).
const MAX_ACTIVITY_POINTS: i64 = 1_000_000_000;

/// 1: only the linked goods count; 2: every line counts.
pub const RELATE_LINKED_GOODS: i64 = 1;
/// 1 消费送: points per every `amount` yuan; 2 单次消费满送: points once at `amount` yuan.
pub const TYPE_PER_AMOUNT: i64 = 1;
/// `expire_type` 1: only inside `start_time..=end_time`.
pub const EXPIRE_WINDOW: i64 = 1;

/// The `activity` block of `create` (and of `to-update`, which adds `id` and omits the type).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBlock {
    /// `to-update` only: the activity's id.
    #[serde(default)]
    pub id: Option<i64>,
    /// 1: only the linked goods' line amounts count; 2: the whole order.
    #[serde(default)]
    pub relate_product_type: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub desc: Option<String>,
    #[serde(default)]
    pub sort: Option<i64>,
    /// 1: from `start_time` to `end_time` (unix seconds); 2: no time limit.
    #[serde(default)]
    pub expire_type: Option<i64>,
    #[serde(default)]
    pub start_time: Option<i64>,
    #[serde(default)]
    pub end_time: Option<i64>,
    /// The merchant (商家) inside the tenant.
    #[serde(default)]
    pub shop_id: Option<i64>,
    /// The store (店铺): an earn whose `store_code` is this number in decimal; 0 or absent: every store.
    #[serde(default)]
    pub shop_sub_id: Option<i64>,
}

/// The `pointsConsumption` block: how the activity awards.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumptionBlock {
    /// `to-update` only: the rule's id (the seed's 拍码id).
    #[serde(default)]
    pub id: Option<i64>,
    /// 1 消费送 (points per every `amount` yuan), 2 单次消费满送 (points once at `amount` yuan).
    #[serde(default, rename = "type")]
    pub kind: Option<i64>,
    /// Yuan.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub points: Option<i64>,
}

/// The seed's `shareMessage` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pic_id: Option<i64>,
}

/// The seed's `news` block (a WeChat article).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct News {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `POST /points-consumption/create` and `/to-update`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBody {
    #[serde(default)]
    pub activity: Option<ActivityBlock>,
    #[serde(default, rename = "pointsConsumption")]
    pub points_consumption: Option<ConsumptionBlock>,
    #[serde(default, rename = "shareMessage")]
    pub share_message: Option<ShareMessage>,
    #[serde(default)]
    pub news: Option<News>,
}

/// An activity's fields as stored, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityFields {
    pub relate_product_type: i64,
    pub name: String,
    pub desc: Option<String>,
    pub sort: Option<i64>,
    pub expire_type: i64,
    pub start_time: i64,
    pub end_time: i64,
    pub shop_id: i64,
    pub shop_sub_id: i64,
    pub kind: i64,
    pub amount: i64,
    pub points: i64,
    pub share_message: Option<ShareMessage>,
    pub news: Option<News>,
}

fn required<T: Clone>(field: &str, v: &Option<T>) -> Result<T, FieldError> {
    v.clone().ok_or_else(|| FieldError::new(field, "is required"))
}

fn one_of(field: &str, v: i64, allowed: &[i64]) -> Result<i64, FieldError> {
    if allowed.contains(&v) {
        Ok(v)
    } else {
        let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
        Err(FieldError::new(field, format!("must be one of {}", list.join(", "))))
    }
}

/// A shop id (`shop_id`, 1 or more) in the seed's Integer(11).
pub fn check_shop_id(field: &str, v: Option<i64>) -> Result<i64, FieldError> {
    let v = required(field, &v)?;
    check_range(field, v, 1, MAX_INT11)?;
    Ok(v)
}

/// An id (1 or more) in the seed's Integer(11).
pub fn check_id(field: &str, v: Option<i64>) -> Result<i64, FieldError> {
    check_shop_id(field, v)
}

fn check_blocks(share: &Option<ShareMessage>, news: &Option<News>) -> Result<(), FieldError> {
    if let Some(s) = share {
        for (f, v) in [("shareMessage.title", &s.title), ("shareMessage.desc", &s.desc)] {
            if let Some(v) = v {
                check_len(f, v, 100)?;
            }
        }
        if let Some(p) = s.pic_id {
            check_range("shareMessage.pic_id", p, 0, MAX_INT11)?;
        }
    }
    if let Some(n) = news {
        for (f, v, max) in
            [("news.title", &n.title, 100), ("news.description", &n.description, 100), ("news.url", &n.url, 200)]
        {
            if let Some(v) = v {
                check_len(f, v, max)?;
            }
        }
        if let Some(d) = n.document_id {
            check_range("news.document_id", d, 0, MAX_INT11)?;
        }
    }
    Ok(())
}

impl ActivityFields {
    /// Checks the activity as a whole (after a create, or after an update merged into the stored one).
    pub fn validate(&self) -> Result<(), FieldError> {
        one_of("activity.relate_product_type", self.relate_product_type, &[1, 2])?;
        if self.name.trim().is_empty() {
            return Err(FieldError::new("activity.name", "must not be empty"));
        }
        check_len("activity.name", &self.name, 250)?;
        if let Some(d) = &self.desc {
            check_len("activity.desc", d, 500)?;
        }
        if let Some(s) = self.sort {
            check_range("activity.sort", s, -MAX_INT11, MAX_INT11)?;
        }
        one_of("activity.expire_type", self.expire_type, &[1, 2])?;
        check_range("activity.start_time", self.start_time, 0, MAX_INT11)?;
        check_range("activity.end_time", self.end_time, 0, MAX_INT11)?;
        if self.expire_type == EXPIRE_WINDOW && self.end_time <= self.start_time {
            return Err(FieldError::new(
                "activity.end_time",
                "must be after activity.start_time when expire_type is 1",
            ));
        }
        check_range("activity.shop_id", self.shop_id, 1, MAX_INT11)?;
        check_range("activity.shop_sub_id", self.shop_sub_id, 0, MAX_INT11)?;
        one_of("pointsConsumption.type", self.kind, &[1, 2])?;
        check_range("pointsConsumption.amount", self.amount, 1, MAX_INT11)?;
        check_range("pointsConsumption.points", self.points, 1, MAX_ACTIVITY_POINTS)?;
        check_blocks(&self.share_message, &self.news)
    }
}

impl ActivityBody {
    /// `create`: every required field present, the whole checked.
    pub fn into_new(self) -> Result<ActivityFields, FieldError> {
        let a = self.activity.ok_or_else(|| FieldError::new("activity", "is required"))?;
        let c = self.points_consumption.ok_or_else(|| FieldError::new("pointsConsumption", "is required"))?;
        if a.id.is_some() {
            return Err(FieldError::new("activity.id", "is given by create; send it to to-update"));
        }
        if c.id.is_some() {
            return Err(FieldError::new("pointsConsumption.id", "is given by create; send it to to-update"));
        }
        let fields = ActivityFields {
            relate_product_type: required("activity.relate_product_type", &a.relate_product_type)?,
            name: required("activity.name", &a.name)?,
            desc: a.desc,
            sort: a.sort,
            expire_type: required("activity.expire_type", &a.expire_type)?,
            start_time: required("activity.start_time", &a.start_time)?,
            end_time: required("activity.end_time", &a.end_time)?,
            shop_id: required("activity.shop_id", &a.shop_id)?,
            shop_sub_id: a.shop_sub_id.unwrap_or(0),
            kind: required("pointsConsumption.type", &c.kind)?,
            amount: required("pointsConsumption.amount", &c.amount)?,
            points: required("pointsConsumption.points", &c.points)?,
            share_message: self.share_message,
            news: self.news,
        };
        fields.validate()?;
        Ok(fields)
    }

    /// `to-update`: the ids and the seed's required fields, checked; (activity id, consumption id).
    pub fn update_ids(&self) -> Result<(i64, i64, i64), FieldError> {
        let a = self.activity.as_ref().ok_or_else(|| FieldError::new("activity", "is required"))?;
        let c = self.points_consumption.as_ref().ok_or_else(|| FieldError::new("pointsConsumption", "is required"))?;
        let id = check_id("activity.id", a.id)?;
        let shop_id = check_shop_id("activity.shop_id", a.shop_id)?;
        let cid = check_id("pointsConsumption.id", c.id)?;
        for (f, v) in [
            ("activity.name", a.name.is_some()),
            ("activity.expire_type", a.expire_type.is_some()),
            ("activity.start_time", a.start_time.is_some()),
            ("activity.end_time", a.end_time.is_some()),
        ] {
            if !v {
                return Err(FieldError::new(f, "is required"));
            }
        }
        Ok((id, shop_id, cid))
    }

    /// `to-update`: the fields sent replace the stored ones, then the whole is checked.
    pub fn merge_into(self, mut f: ActivityFields) -> Result<ActivityFields, FieldError> {
        let a = self.activity.unwrap_or_default();
        let c = self.points_consumption.unwrap_or_default();
        macro_rules! set {
            ($($dst:ident = $src:expr;)*) => { $( if let Some(v) = $src { f.$dst = v; } )* };
        }
        set! {
            relate_product_type = a.relate_product_type;
            name = a.name;
            expire_type = a.expire_type;
            start_time = a.start_time;
            end_time = a.end_time;
            shop_sub_id = a.shop_sub_id;
            kind = c.kind;
            amount = c.amount;
            points = c.points;
        }
        if a.desc.is_some() {
            f.desc = a.desc;
        }
        if a.sort.is_some() {
            f.sort = a.sort;
        }
        if self.share_message.is_some() {
            f.share_message = self.share_message;
        }
        if self.news.is_some() {
            f.news = self.news;
        }
        f.validate()?;
        Ok(f)
    }
}

/// `get`, `general-del`, `general-enable`, `general-disable`, `del-points-consumption-goods`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdShop {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub shop_id: Option<i64>,
}

impl IdShop {
    pub fn check(&self) -> Result<(i64, i64), FieldError> {
        Ok((check_id("id", self.id)?, check_shop_id("shop_id", self.shop_id)?))
    }
}

/// The seed's paging: `page` from 0, `count` at most 100 (default 20), `sortStr` `{"id": "asc"|"desc"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListBody {
    #[serde(default)]
    pub shop_id: Option<i64>,
    /// `find-points-consumption-goods-list` only: the activity's id.
    #[serde(default)]
    pub points_consumption_id: Option<i64>,
    #[serde(default)]
    pub page: Option<i64>,
    #[serde(default)]
    pub count: Option<i64>,
    /// `{"id": "asc"}` or `{"id": "desc"}` (the seed's `['id'=>'desc']`; `id` is the one sortable field).
    #[serde(default, rename = "sortStr")]
    #[schema(value_type = Option<Object>)]
    pub sort_str: Option<Value>,
}

/// Checked paging: (shop_id, page, count, descending).
pub struct Paging {
    pub shop_id: i64,
    pub page: i64,
    pub count: i64,
    pub descending: bool,
}

impl ListBody {
    pub fn paging(&self) -> Result<Paging, FieldError> {
        let shop_id = check_shop_id("shop_id", self.shop_id)?;
        let page = self.page.unwrap_or(0);
        check_range("page", page, 0, 1_000_000)?;
        let count = self.count.unwrap_or(20);
        check_range("count", count, 1, 100)?;
        let descending = match &self.sort_str {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => {
                if let Some(k) = o.keys().find(|k| k.as_str() != "id") {
                    return Err(FieldError::new("sortStr", format!("`{k}` cannot be sorted on; only `id`")));
                }
                match o.get("id").map(|v| v.as_str().map(str::to_ascii_lowercase)) {
                    None => false,
                    Some(Some(d)) if d == "asc" => false,
                    Some(Some(d)) if d == "desc" => true,
                    Some(_) => return Err(FieldError::new("sortStr", "id must be `asc` or `desc`")),
                }
            }
            Some(_) => return Err(FieldError::new("sortStr", "must be an object like {\"id\": \"desc\"}")),
        };
        if let Some(id) = self.points_consumption_id {
            check_range("points_consumption_id", id, 1, MAX_INT11)?;
        }
        Ok(Paging { shop_id, page, count, descending })
    }
}

/// `create-points-consumption-goods`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodsBody {
    #[serde(default)]
    pub points_consumption_id: Option<i64>,
    #[serde(default)]
    pub product_id: Option<i64>,
    #[serde(default)]
    pub shop_id: Option<i64>,
    #[serde(default)]
    pub product_sku_id: Option<i64>,
    #[serde(default)]
    pub shop_sub_id: Option<i64>,
}

/// A checked goods link.
pub struct Goods {
    pub points_consumption_id: i64,
    pub product_id: i64,
    pub shop_id: i64,
    pub product_sku_id: i64,
    pub shop_sub_id: i64,
}

impl GoodsBody {
    pub fn check(&self) -> Result<Goods, FieldError> {
        let sub = required("shop_sub_id", &self.shop_sub_id)?;
        check_range("shop_sub_id", sub, 0, MAX_INT11)?;
        Ok(Goods {
            points_consumption_id: check_id("points_consumption_id", self.points_consumption_id)?,
            product_id: check_id("product_id", self.product_id)?,
            shop_id: check_shop_id("shop_id", self.shop_id)?,
            product_sku_id: check_id("product_sku_id", self.product_sku_id)?,
            shop_sub_id: sub,
        })
    }
}

/// A live, enabled activity as the earn worker sees it (through the rule cache).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: i64,
    pub name: String,
    pub shop_sub_id: i64,
    pub relate_product_type: i64,
    pub expire_type: i64,
    pub start_time: i64,
    pub end_time: i64,
    #[serde(rename = "type")]
    pub kind: i64,
    pub amount: i64,
    pub points: i64,
    /// The linked goods' `product_sku_id`s, in decimal (matched against order lines' `sku`).
    #[serde(default)]
    pub skus: Vec<String>,
}

impl Activity {
    /// The points this activity gives an order, with the arithmetic (`Ok((points, why))`), or
    /// why it gives none (`Err(why)`). `at` is the event's business time (unix seconds),
    /// `amount` the order's amount, `items` its lines as (sku, line amount).
    pub fn bonus(
        &self,
        at: i64,
        store_code: Option<&str>,
        amount: Option<Cents>,
        items: &[(String, Cents)],
    ) -> Result<(i64, String), String> {
        let who = format!("activity {}", self.id);
        if self.expire_type == EXPIRE_WINDOW && (at < self.start_time || at > self.end_time) {
            return Err(format!("{who}: outside its window {}..{}", self.start_time, self.end_time));
        }
        if self.shop_sub_id != 0 && store_code != Some(self.shop_sub_id.to_string().as_str()) {
            return Err(format!("{who}: store {} only", self.shop_sub_id));
        }
        let (counted, what) = if self.relate_product_type == RELATE_LINKED_GOODS {
            let sum: i64 = items.iter().filter(|(sku, _)| self.skus.iter().any(|s| s == sku)).map(|(_, c)| c.0).sum();
            (Cents(sum), "linked goods")
        } else {
            (amount.unwrap_or(Cents(0)), "order")
        };
        let step = self.amount.saturating_mul(100);
        if self.kind == TYPE_PER_AMOUNT {
            let n = counted.0 / step;
            if n == 0 {
                return Err(format!("{who}: {what} {} is below {}", counted.to_decimal_string(), self.amount));
            }
            let points = n.saturating_mul(self.points);
            Ok((
                points,
                format!(
                    "{who}: floor({what} {} / {}) × {} = {points}",
                    counted.to_decimal_string(),
                    self.amount,
                    self.points
                ),
            ))
        } else if counted.0 >= step {
            Ok((
                self.points,
                format!("{who}: {what} {} ≥ {} → {}", counted.to_decimal_string(), self.amount, self.points),
            ))
        } else {
            Err(format!("{who}: {what} {} is below {}", counted.to_decimal_string(), self.amount))
        }
    }
}

#[cfg(test)]
mod tests;
