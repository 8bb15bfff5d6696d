#!/usr/bin/env python3
"""Publishes one earn event (seed 000 produce event) straight to RabbitMQ, with pika.

The example of the README's "Publishing directly to RabbitMQ"; the e2e tests run it
(tests/tests/e2e/broker_contract.rs). Settings, from the environment:

  AMQP_URL           the broker (default amqp://guest:guest@127.0.0.1:5672/%2f)
  LOYALTY_NAMESPACE  the deployment's namespace (default loyalty): the exchange is <ns>.events
  CRM_ID             the tenant (required)
  EVENT_NO           the event's unique id, its idempotency key (default: a new one)
  MEMBER_NO          the member (default m1)
  ACTION_SCENE       the produce scene (default user_login)
  AMOUNT_CENTS       the order amount in cents, for `order` rules (optional)
  ROUTING_KEY        overrides points.earn.<scene> (to see an unroutable message returned)

Exit status 0: the broker confirmed the message (it is queued; the workers apply it once per
EVENT_NO, however often it is published). 1: nacked, returned (no queue took it) or refused by
the broker: nothing was queued, publish again with the same EVENT_NO.
"""
import json
import os
import sys
import uuid
from datetime import datetime, timezone

import pika


def envelope(crm_id, event_no, payload):
    """The envelope every command carries (the AsyncAPI document's `Envelope`)."""
    return {
        "message_id": str(uuid.uuid4()),  # this publication; a retry gets a new one
        "kind": "points.earn",
        "schema_version": 1,
        "crm_id": crm_id,
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "idempotency_key": event_no,  # what the workers deduplicate on
        "payload": payload,
    }


def main():
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
    namespace = os.environ.get("LOYALTY_NAMESPACE", "loyalty")
    crm_id = os.environ["CRM_ID"]
    event_no = os.environ.get("EVENT_NO") or uuid.uuid4().hex
    scene = os.environ.get("ACTION_SCENE", "user_login")
    payload = {"member_no": os.environ.get("MEMBER_NO", "m1"), "action_scene": scene}
    if os.environ.get("AMOUNT_CENTS"):
        payload["amount"] = int(os.environ["AMOUNT_CENTS"])  # cents, not yuan
    message = envelope(crm_id, event_no, payload)
    routing_key = os.environ.get("ROUTING_KEY") or f"points.earn.{scene}"

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()  # basic_publish now waits for the broker's ack
        channel.basic_publish(
            exchange=f"{namespace}.events",
            routing_key=routing_key,
            body=json.dumps(message).encode(),
            properties=pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type="application/json",
                message_id=message["message_id"],
                type=message["kind"],
            ),
            mandatory=True,  # an unroutable message comes back instead of vanishing
        )
    except pika.exceptions.UnroutableError:
        print(f"returned: no queue is bound to {routing_key}; retry with EVENT_NO={event_no}", file=sys.stderr)
        return 1
    except pika.exceptions.NackError:
        print(f"nacked by the broker; retry with EVENT_NO={event_no}", file=sys.stderr)
        return 1
    except pika.exceptions.ChannelClosedByBroker as e:
        print(f"refused by the broker ({e}); retry with EVENT_NO={event_no}", file=sys.stderr)
        return 1
    finally:
        if connection.is_open:
            connection.close()
    print(json.dumps({"event_no": event_no, "message_id": message["message_id"], "status": "queued"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
