#include "admin/prometheus.h"

#include "gtest/gtest.h"

namespace tern::admin {
namespace {

TEST(PrometheusWriter, CounterFamilyWithLabels) {
  PrometheusWriter w;
  w.Family("http_requests", "requests by route and status",
           PrometheusWriter::Type::kCounter);
  w.Sample({{"route", "store"}, {"status", "200"}}, 3);
  w.Sample({{"route", "envelope"}, {"status", "429"}}, 0);
  EXPECT_EQ(w.text(),
            "# HELP tern_http_requests_total requests by route and status\n"
            "# TYPE tern_http_requests_total counter\n"
            "tern_http_requests_total{route=\"store\",status=\"200\"} 3\n"
            "tern_http_requests_total{route=\"envelope\",status=\"429\"} 0\n");
}

TEST(PrometheusWriter, GaugeAndEscaping) {
  PrometheusWriter w;
  w.Gauge("queue_depth", "messages in flight\nto Kafka", 12.5);
  w.Family("drops", "d", PrometheusWriter::Type::kGauge);
  w.Sample({{"reason", "a\"b\\c\nd"}}, 1);
  EXPECT_EQ(w.text(),
            "# HELP tern_queue_depth messages in flight\\nto Kafka\n"
            "# TYPE tern_queue_depth gauge\n"
            "tern_queue_depth 12.5\n"
            "# HELP tern_drops d\n"
            "# TYPE tern_drops gauge\n"
            "tern_drops{reason=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(PrometheusWriter, LargeCountersPrintAsIntegers) {
  PrometheusWriter w;
  w.Counter("bytes_in", "bytes", 123456789012ull);
  EXPECT_NE(w.text().find("tern_bytes_in_total 123456789012\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tern::admin
