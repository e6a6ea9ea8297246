#include "bench/tern_bench/proc_stats.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace tern::bench {
namespace {

TEST(ProcStatsTest, StatTicksCountFieldsAfterTheCommandName) {
  // A command name with a space and a parenthesis must not shift fields.
  const char* stat =
      "4242 (tern relay) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 "
      "1234 567 0 0 20 0 3 0 100 1000000 2000 18446744073709551615";
  EXPECT_EQ(ParseStatCpuTicks(stat), 1234u + 567u);
  EXPECT_EQ(ParseStatCpuTicks("garbage"), std::nullopt);
  EXPECT_EQ(ParseStatCpuTicks("1 (x) S 1 2"), std::nullopt);
}

TEST(ProcStatsTest, StatusKb) {
  const char* status =
      "Name:\ttern-relay\nVmPeak:\t  300000 kB\nVmHWM:\t   51234 kB\n"
      "VmRSS:\t   40000 kB\n";
  EXPECT_EQ(ParseStatusKb(status, "VmHWM"), 51234u);
  EXPECT_EQ(ParseStatusKb(status, "VmRSS"), 40000u);
  EXPECT_EQ(ParseStatusKb(status, "VmSwap"), std::nullopt);
  EXPECT_EQ(ParseStatusKb(status, "Vm"), std::nullopt);
}

TEST(ProcStatsTest, SnmpUdpByName) {
  const char* snmp =
      "Tcp: RtoAlgorithm RtoMin\nTcp: 1 200\n"
      "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors "
      "SndbufErrors InCsumErrors IgnoredMulti MemErrors\n"
      "Udp: 100 2 7 90 5 0 0 0 0\n"
      "UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors "
      "SndbufErrors InCsumErrors IgnoredMulti MemErrors\n"
      "UdpLite: 0 0 0 0 99 0 0 0 0\n";
  EXPECT_EQ(ParseSnmpUdp(snmp, "RcvbufErrors"), 5u);
  EXPECT_EQ(ParseSnmpUdp(snmp, "InErrors"), 7u);
  EXPECT_EQ(ParseSnmpUdp(snmp, "Nope"), std::nullopt);
}

TEST(ProcStatsTest, ReadsThisProcess) {
  // Our own process is a target like any other.
  EXPECT_TRUE(ReadCpuSeconds(getpid()).ok());
  absl::StatusOr<uint64_t> hwm = ReadStatusKb(getpid(), "VmHWM");
  ASSERT_TRUE(hwm.ok()) << hwm.status();
  EXPECT_GT(*hwm, 0u);
  EXPECT_FALSE(ReadCpuSeconds(-5).ok());
}

}  // namespace
}  // namespace tern::bench
