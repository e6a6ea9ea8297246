// tern-mock-kafka: librdkafka's in-process mock cluster as a standalone
// process, so load tests (bench/wrk.sh) and the dev stack can point a relay
// at a Kafka bootstrap without a real broker.
//
//   tern-mock-kafka [--brokers N]
//
// Creates the relay's default topics (config/relay.yml), prints the
// bootstrap servers ("127.0.0.1:port,...") as one line on stdout, then waits
// for SIGTERM or SIGINT and stops the cluster. Everything produced is kept
// in memory until then. Exit status: 0 after a signal, 1 if the cluster
// could not start, 2 for a bad argument.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "config/relay_config.h"
#include "relay/kafka/mock_cluster.h"

int main(int argc, char** argv) {
  int brokers = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
      brokers = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--brokers N]\n", argv[0]);
      return 2;
    }
  }
  if (brokers < 1) {
    std::fprintf(stderr, "--brokers must be at least 1\n");
    return 2;
  }

  // Block the signals before any thread starts, so librdkafka's threads
  // inherit the mask and sigwait() below is the only taker.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto cluster = tern::relay::kafka::MockCluster::Create(brokers);
  if (!cluster.ok()) {
    std::fprintf(stderr, "tern-mock-kafka: %s\n",
                 std::string(cluster.status().message()).c_str());
    return 1;
  }
  const tern::config::KafkaTopics topics;
  for (const std::string& t :
       {topics.events, topics.attachments, topics.transactions, topics.sessions,
        topics.outcomes}) {
    if (auto s = (*cluster)->CreateTopic(t, 1); !s.ok()) {
      std::fprintf(stderr, "tern-mock-kafka: topic %s: %s\n", t.c_str(),
                   std::string(s.message()).c_str());
      return 1;
    }
  }
  std::printf("%s\n", (*cluster)->bootstrap_servers().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  std::fprintf(stderr, "tern-mock-kafka: %s, stopping\n", strsignal(sig));
  return 0;
}
