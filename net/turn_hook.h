// A callback that runs once at the end of the current turn of a worker's
// loop, after every I/O callback of that turn: the relay's group commit
// (relay/spool) writes one turn's spool records with one write and only
// then sends that turn's answers.
//
// Implemented with a libuv check handle, which runs right after the loop's
// I/O phase, plus an idle handle while armed, which keeps that I/O phase from
// blocking; so whatever arms the hook (an I/O callback, a timer, a posted
// closure, the hook's own callback) is served within the turn, and the
// answers it holds never wait for unrelated traffic.
#ifndef TERN_NET_TURN_HOOK_H_
#define TERN_NET_TURN_HOOK_H_

#include <memory>

#include "absl/functional/any_invocable.h"
#include "net/worker.h"

namespace tern::net {

class TurnHook {
 public:
  // `callback` runs on the loop thread each time the hook fires. `worker`
  // must outlive the hook; destroy the hook only after worker->Stop()
  // returned. When Stop() begins with the hook armed, the callback runs one
  // last time before the handle closes, so nothing it holds is dropped.
  TurnHook(Worker* worker, absl::AnyInvocable<void()> callback);
  ~TurnHook();
  TurnHook(const TurnHook&) = delete;
  TurnHook& operator=(const TurnHook&) = delete;

  // Makes the callback run once at the end of this turn (a no-op when already
  // armed). Loop thread only (or before Worker::Start()). Does nothing once
  // the worker is stopping.
  void Arm();

  // True between Arm() and the callback. Loop thread only.
  bool armed() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net

#endif  // TERN_NET_TURN_HOOK_H_
