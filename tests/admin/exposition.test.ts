import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CONTENT_TYPES,
  type MetricFamily,
  negotiateFormat,
  renderExposition,
} from "../../src/admin/exposition.ts";

const families: MetricFamily[] = [
  { name: "x_sent_bytes_total", type: "counter", help: "Bytes sent.", samples: [[undefined, 42]] },
  {
    name: "x_clients",
    type: "gauge",
    help: 'Clients\\now\nand "then".',
    samples: [[{ protocol: "5.0" }, 1], [{ listener: 'a"b\\c\nd' }, 2.5], [{}, NaN]],
  },
];

describe("exposition format", () => {
  test("text 0.0.4 has HELP and TYPE per family and counters named with _total", () => {
    assert.equal(
      renderExposition(families, "prometheus"),
      [
        "# HELP x_sent_bytes_total Bytes sent.",
        "# TYPE x_sent_bytes_total counter",
        "x_sent_bytes_total 42",
        '# HELP x_clients Clients\\\\now\\nand "then".',
        "# TYPE x_clients gauge",
        'x_clients{protocol="5.0"} 1',
        'x_clients{listener="a\\"b\\\\c\\nd"} 2.5',
        "x_clients NaN",
        "",
      ].join("\n"),
    );
  });

  test("OpenMetrics names a counter family without _total and ends with # EOF", () => {
    const lines = renderExposition(families, "openmetrics").split("\n");
    assert.equal(lines[0], "# HELP x_sent_bytes Bytes sent.");
    assert.equal(lines[1], "# TYPE x_sent_bytes counter");
    assert.equal(lines[2], "x_sent_bytes_total 42");
    assert.deepEqual(lines.slice(-2), ["# EOF", ""]);
  });

  test("OpenMetrics only when Accept asks for it", () => {
    assert.equal(negotiateFormat(null), "prometheus");
    assert.equal(negotiateFormat("text/plain"), "prometheus");
    assert.equal(negotiateFormat("application/openmetrics-text;q=0,text/plain"), "prometheus");
    assert.equal(
      negotiateFormat(
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      ),
      "openmetrics",
    );
    assert.match(CONTENT_TYPES.openmetrics, /^application\/openmetrics-text; version=1\.0\.0/);
    assert.match(CONTENT_TYPES.prometheus, /^text\/plain; version=0\.0\.4/);
  });
});
