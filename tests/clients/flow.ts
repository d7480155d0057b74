// The flow of tests/system/test_generated_clients.py, through openapi-fetch over the types that
// openapi-typescript generated (./schema.d.ts) from the live document. Compiled with tsc --strict,
// so a type the document gets wrong fails here before anything runs.
// Usage: node flow.js BASE_URL API_KEY; prints one JSON line of what it saw, exits 1 on a failure.
import { setTimeout as sleep } from "node:timers/promises";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];
type Order = components["schemas"]["OrderOut"];
type Refund = components["schemas"]["Refund"];
type RefundLine = components["schemas"]["RefundLine"];

const [baseUrl, apiKey] = process.argv.slice(2);
const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });

function check(condition: boolean, what: string, seen?: unknown): asserts condition {
  if (!condition) {
    throw new Error(`${what}: ${JSON.stringify(seen)}`);
  }
}

function problem(error: Problem | undefined, status: number): Problem {
  check(error !== undefined && error.status === status && error.title.length > 0, `a ${status} problem`, error);
  return error;
}

async function main(): Promise<void> {
  const suffix = `${Date.now()}-${Math.random()}`;
  const created = await api.POST("/api/v1/products", {
    body: { name: `TS widget ${suffix}`, price_cents: 1250 },
  });
  check(created.response.status === 201 && created.data !== undefined, "product created", created.error);
  const productId: number = created.data.data.id;

  const stocked = await api.POST("/api/v1/inventory", { body: { product_id: productId, on_hand: 5 } });
  check(stocked.response.status === 201 && stocked.data?.data.on_hand === 5, "stock set", stocked.error);

  const key = `ts-${suffix}`;
  const placeOrder = () =>
    api.POST("/api/v1/orders", {
      params: { header: { "Idempotency-Key": key } },
      body: { items: [{ product_id: productId, quantity: 2 }] },
    });
  const placed = await placeOrder();
  check(placed.response.status === 202 && placed.data !== undefined, "order accepted", placed.error);
  const orderId: number = placed.data.data.id;
  const again = await placeOrder();
  check(again.data?.data.id === orderId, "the same Idempotency-Key returns the same order", again.data);

  let order: Order | undefined;
  for (let tries = 0; tries < 6 && !["processed", "failed", "cancelled"].includes(order?.status ?? ""); tries++) {
    const read = await api.GET("/api/v1/orders/{order_id}", {
      params: { path: { order_id: orderId }, query: { wait: 10 } },
    });
    check(read.data !== undefined, "order read", read.error);
    order = read.data;
  }
  check(order?.status === "processed" && order.total_cents === 2500, "order processed", order);

  const listed = await api.GET("/api/v1/orders", { params: { query: { status: "processed", limit: 500 } } });
  check(listed.data?.data.some((o) => o.id === orderId) === true, "order listed", listed.data);

  const missing = await api.GET("/api/v1/orders/{order_id}", { params: { path: { order_id: 2 ** 53 - 1 } } });
  const notFound = problem(missing.error, 404);

  const unknownProduct = await api.POST("/api/v1/orders", { body: { product_id: 2 ** 53 - 1, quantity: 1 } });
  const unprocessable = problem(unknownProduct.error, 422);

  // After payment: one unit shipped, then returned and refunded (a replay is the same refund).
  const shipped = await api.POST("/api/v1/orders/{order_id}/fulfillments", {
    params: { path: { order_id: orderId } },
    body: { items: [{ product_id: productId, quantity: 1 }], carrier: "DHL", tracking_number: `TS-${suffix}` },
  });
  check(shipped.response.status === 201 && shipped.data !== undefined, "fulfillment recorded", shipped.error);
  const fulfillment = shipped.data.data;
  check(
    fulfillment.order_id === orderId && fulfillment.carrier === "DHL" && fulfillment.items[0]?.quantity === 1,
    "the fulfillment as recorded",
    fulfillment,
  );
  const shipments = await api.GET("/api/v1/orders/{order_id}/fulfillments", {
    params: { path: { order_id: orderId } },
  });
  check(shipments.data?.data.map((f) => f.id).join() === `${fulfillment.id}`, "fulfillments listed", shipments.data);

  // `restock` may be left out ("none"): the document gives it no default, which would make it required.
  void ({ product_id: productId, quantity: 1 } satisfies RefundLine);
  const refundKey = `ts-refund-${suffix}`;
  const refundOne = () =>
    api.POST("/api/v1/orders/{order_id}/refunds", {
      params: { path: { order_id: orderId }, header: { "Idempotency-Key": refundKey } },
      body: { items: [{ product_id: productId, quantity: 1, restock: "return" }] },
    });
  const accepted = await refundOne();
  check(accepted.response.status === 202 && accepted.data !== undefined, "refund accepted", accepted.error);
  const refundId: number = accepted.data.data.id;
  check(
    accepted.response.headers.get("Location") === `/api/v1/refunds/${refundId}`,
    "the refund's Location",
    accepted.response.headers.get("Location"),
  );
  const replayed = await refundOne();
  check(replayed.data?.data.id === refundId, "the same Idempotency-Key returns the same refund", replayed.data);

  let refund: Refund | undefined;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && (refund?.status ?? "pending") === "pending"; ) {
    if (refund !== undefined) {
      await sleep(200);
    }
    const read = await api.GET("/api/v1/refunds/{refund_id}", { params: { path: { refund_id: refundId } } });
    check(read.data !== undefined, "refund read", read.error);
    refund = read.data;
  }
  check(refund?.status === "succeeded" && refund.items[0]?.restock === "return", "refund succeeded", refund);

  const after = await api.GET("/api/v1/orders/{order_id}", { params: { path: { order_id: orderId } } });
  check(after.data !== undefined && after.data.refunded_cents > 0, "order refunded", after.data ?? after.error);
  const refunded: Order = after.data;

  console.log(
    JSON.stringify({
      product_id: productId,
      order_id: orderId,
      status: order.status,
      not_found: notFound.title,
      unprocessable: unprocessable.title,
      refund_id: refundId,
      refund_status: refund.status,
      refunded_cents: refunded.refunded_cents,
      fulfillment_status: refunded.fulfillment_status,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
