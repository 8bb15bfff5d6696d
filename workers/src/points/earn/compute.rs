//! What an earn event is awarded, in memory: the base (the member's level rule of seed 004,
//! else seed 000's rules of the scene within their windows), the bonuses of seed 001's
//! activities, and the words that explain each credit. No I/O: the batch (`super`) reads what
//! this needs beforehand and writes the credits afterwards.

use chrono::{DateTime, Duration, Utc};
use platform::rules::TenantRules;
use schemas::{
    level_rules::{LevelRuleSet, MemberAdditionRule},
    points::{order_item_amounts, EarnPayload, ProduceRule},
    Envelope,
};

use super::Windows;
use crate::outcome::{Outcome, Refusal};

/// One credit: a lot and its ledger row.
pub(super) struct Credit {
    pub(super) idx: usize,
    /// The seed 000 rule that gave it; none for an activity's bonus.
    pub(super) rule_id: Option<i64>,
    /// Seed 001: the activity whose bonus this is (ledger scene `campaign`, `campagin_code` its id).
    pub(super) activity: Option<i64>,
    pub(super) points: i64,
    /// Of `points`, what pays back the member's debt (no lot for that part).
    pub(super) settled: i64,
    pub(super) expire_time: DateTime<Utc>,
    pub(super) unfreeze_time: Option<DateTime<Utc>>,
    /// The arithmetic that produced it, in words ("rule 3: floor(120.00 / 50) × 10 = 20").
    pub(super) why: String,
}

/// The scene of a paid order: the one activities (seed 001) award on.
const PAID_ORDER_SCENE: &str = "order_pay";
/// The ledger scene of an activity's bonus.
pub(super) const CAMPAIGN_SCENE: &str = "campaign";

/// The scenes seed 004's level rules govern: a paid order, and a recharge (`allow_recharge`).
pub(super) const LEVEL_SCENES: &[&str] = &[PAID_ORDER_SCENE, RECHARGE_SCENE];
const RECHARGE_SCENE: &str = "recharge";

/// Computes one event's outcome under its tenant's rules, recording its credits and its awards
/// (so later events of the same batch see them in their windows).
///
/// How the three rule systems combine on one order:
/// 1. the base: the member's level rule (seed 004) when the tenant has one for the event's store
///    and the member's level has an entry in it (a disabled one earns nothing) — it *replaces*
///    seed 000's rules of the scene; otherwise seed 000's rules of the scene (with their `max_times` / `max_points`
///    windows, which count only their own awards);
/// 2. a paid order (scene `order_pay` with an amount) adds the bonus of every live activity
///    (seed 001) that applies, each its own credit under the same event, outside the windows.
pub(super) fn compute(
    tenant: &TenantRules,
    ev: &Envelope<EarnPayload>,
    idx: usize,
    level: Option<i64>,
    windows: &mut Windows,
    credits: &mut Vec<Credit>,
) -> Outcome {
    let scene = &ev.payload.action_scene;
    let rules = tenant.produce_rules_for(scene);
    let t = ev.occurred_at;
    let level_rule = LEVEL_SCENES
        .contains(&scene.as_str())
        .then(|| tenant.level_rule_for(ev.payload.store_code.as_deref()))
        .flatten()
        .and_then(|set| level.and_then(|l| set.addition_for(l)).map(|entry| (set, entry)));
    let (base, bonus_lot) = match level_rule {
        Some((set, entry)) => (compute_level(set, entry, ev, idx, credits), (set.expire_time(t), None)),
        None => {
            // A bonus lot expires and unfreezes as the scene's first earn rule's award would
            // (365 days, never frozen, without one).
            let lot = rules.first().map_or((t + Duration::days(BONUS_EXPIRE_DAYS), None), |r| {
                (t + Duration::days(r.expire_term), (r.freeze_term > 0).then(|| t + Duration::days(r.freeze_term)))
            });
            (compute_base(&rules, ev, idx, windows, credits), lot)
        }
    };
    let (bonus, mut bonus_reasons) = compute_bonuses(tenant, bonus_lot, ev, idx, credits);
    match base {
        Ok(points) => Outcome::Applied { count: points + bonus },
        Err(_) if bonus > 0 => Outcome::Applied { count: bonus },
        Err((code, reason)) => {
            let mut reason = reason;
            if !bonus_reasons.is_empty() {
                bonus_reasons.insert(0, reason);
                reason = bonus_reasons.join("; ");
            }
            Outcome::refused(code, reason)
        }
    }
}

/// Seed 000's award of the event's scene: the points, or the refusal with its reasons.
fn compute_base(
    rules: &[&ProduceRule],
    ev: &Envelope<EarnPayload>,
    idx: usize,
    windows: &mut Windows,
    credits: &mut Vec<Credit>,
) -> Result<i64, (Refusal, String)> {
    let scene = &ev.payload.action_scene;
    if rules.is_empty() {
        return Err((Refusal::NoRule, format!("no earn rule for action_scene {scene}")));
    }
    // Nothing earned only because of limits is a limit reached (409); otherwise the amount
    // earns nothing under any rule (422).
    let mut only_limits = true;
    let t = ev.occurred_at;
    let mut total = 0;
    let mut reasons = Vec::new();
    for rule in rules {
        let base = match rule.base_award(ev.payload.amount) {
            Ok(b) => b,
            Err(why) => {
                only_limits = false;
                reasons.push(format!("rule {}: {why}", rule.rule_id));
                continue;
            }
        };
        if base <= 0 {
            only_limits = false;
            let amount = ev.payload.amount.map_or_else(|| "0".into(), |a| a.to_decimal_string());
            reasons.push(format!(
                "rule {}: amount {amount} is below per_money {}",
                rule.rule_id,
                rule.per_money.unwrap_or(0)
            ));
            continue;
        }
        let mut award = base;
        let mut why = rule.explain(ev.payload.amount, base);
        if rule.max_times.is_some() || rule.max_points.is_some() {
            let window = windows.entry((ev.crm_id.clone(), ev.payload.member_no.clone(), rule.rule_id)).or_default();
            let since = (rule.range_days > 0).then(|| t - Duration::days(rule.range_days));
            let (times, points) = window
                .iter()
                .filter(|(at, _)| since.is_none_or(|s| *at > s))
                .fold((0i64, 0i64), |(n, p), (_, pts)| (n + i64::from(*pts > 0), p + pts));
            let within =
                if rule.range_days > 0 { format!("within {} day(s)", rule.range_days) } else { "in total".to_string() };
            if let Some(max) = rule.max_times {
                if times >= max {
                    reasons.push(format!("rule {}: max_times {max} reached {within}", rule.rule_id));
                    continue;
                }
            }
            if let Some(max) = rule.max_points {
                let left = max - points;
                if left <= 0 {
                    reasons.push(format!("rule {}: max_points {max} reached {within}", rule.rule_id));
                    continue;
                }
                if left < award {
                    why = format!("{why}; cut to {left} by max_points {max} {within} ({points} already)");
                }
                award = award.min(left);
            }
            window.push((t, award));
        }
        total += award;
        credits.push(Credit {
            idx,
            rule_id: Some(rule.rule_id),
            activity: None,
            points: award,
            settled: 0,
            expire_time: t + Duration::days(rule.expire_term),
            unfreeze_time: (rule.freeze_term > 0).then(|| t + Duration::days(rule.freeze_term)),
            why,
        });
    }
    if total > 0 {
        Ok(total)
    } else {
        let code = if only_limits { Refusal::LimitReached } else { Refusal::BelowThreshold };
        Err((code, reasons.join("; ")))
    }
}

/// Seed 004: the base award of the member's level. The pay method must be allowed, a recharge
/// must be (`allow_recharge`), and only the entry's SKUs count when it lists them. The lot
/// expires by the rule's clear rule (`NO_CLEAR`: never) and is never frozen.
fn compute_level(
    set: &LevelRuleSet,
    entry: &MemberAdditionRule,
    ev: &Envelope<EarnPayload>,
    idx: usize,
    credits: &mut Vec<Credit>,
) -> Result<i64, (Refusal, String)> {
    let p = &ev.payload;
    let who = format!("level rule {} (level {})", set.rule_id, entry.level_id);
    if !entry.enable {
        return Err((Refusal::LevelRule, format!("{who}: this level earns no points (enable false)")));
    }
    if !set.pay_method_allowed(p.pay_method.as_deref()) {
        let method = p.pay_method.as_deref().unwrap_or("(none)");
        return Err((Refusal::LevelRule, format!("{who}: pay_method {method} does not earn")));
    }
    if p.action_scene == RECHARGE_SCENE && !entry.allow_recharge {
        return Err((Refusal::LevelRule, format!("{who}: a recharge does not earn (allow_recharge false)")));
    }
    let items = order_item_amounts(p.order_items.as_ref()).ok().flatten().unwrap_or_default();
    let (points, why) = entry.award(set.rule_id, p.amount, &items);
    if points <= 0 {
        return Err((Refusal::BelowThreshold, format!("{why}: below consume_money {}", entry.consume_money)));
    }
    credits.push(Credit {
        idx,
        rule_id: None,
        activity: None,
        points,
        settled: 0,
        expire_time: set.expire_time(ev.occurred_at),
        unfreeze_time: None,
        why,
    });
    Ok(points)
}

/// Days a bonus lot lives when the order's scene has no earn rule to take its expiry from.
const BONUS_EXPIRE_DAYS: i64 = 365;

/// Seed 001: the bonuses of the tenant's live activities on a paid order (scene `order_pay`
/// with an amount): (points, why the activities that gave nothing gave nothing). A bonus lot
/// expires and unfreezes as the order's base award does (`lot`).
fn compute_bonuses(
    tenant: &TenantRules,
    lot: (DateTime<Utc>, Option<DateTime<Utc>>),
    ev: &Envelope<EarnPayload>,
    idx: usize,
    credits: &mut Vec<Credit>,
) -> (i64, Vec<String>) {
    let p = &ev.payload;
    if tenant.activities.is_empty() || p.action_scene != PAID_ORDER_SCENE || p.amount.is_none() {
        return (0, Vec::new());
    }
    let items = order_item_amounts(p.order_items.as_ref()).ok().flatten().unwrap_or_default();
    let t = ev.occurred_at;
    let mut total = 0;
    let mut reasons = Vec::new();
    for activity in &tenant.activities {
        match activity.bonus(t.timestamp(), p.store_code.as_deref(), p.amount, &items) {
            Ok((points, why)) => {
                total += points;
                credits.push(Credit {
                    idx,
                    rule_id: None,
                    activity: Some(activity.id),
                    points,
                    settled: 0,
                    expire_time: lot.0,
                    unfreeze_time: lot.1,
                    why,
                });
            }
            Err(why) => reasons.push(why),
        }
    }
    (total, reasons)
}
