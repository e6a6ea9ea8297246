// The original source of tests/integration/test_sourcemaps.py's app: the
// test minifies it with esbuild (two different builds), injects debug IDs and
// uploads the maps with sentry-cli, then throws from the minified code.
function validateOrder(order) {
  if (!order.items || order.items.length === 0) {
    throw new Error("order has no items");
  }
  return order.items.length;
}

function processOrder(order) {
  const count = validateOrder(order);
  return count * 2;
}

exports.run = function run(order) {
  return processOrder(order);
};
