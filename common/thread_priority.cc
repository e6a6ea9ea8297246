#include "common/thread_priority.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace tern {

int ThisThreadNice() {
  // For the calling thread getpriority cannot fail, so -1 is a nice value.
  return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
}

absl::Status LowerThisThreadPriorityTo(int nice) {
  if (nice > 19) nice = 19;
  // Also covers nice < -20: no thread is below -20.
  if (nice <= ThisThreadNice()) return absl::OkStatus();
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) != 0) {
    return absl::InternalError(
        absl::StrCat("setpriority(", nice, "): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

std::vector<ThreadInfo> ListThreads() {
  std::vector<ThreadInfo> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream stat(absl::StrCat("/proc/self/task/", e->d_name, "/stat"));
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "tid (comm) state ..." where comm may hold spaces and parentheses: the
    // fields after the last ')' are fixed, and nice (field 19 of the line)
    // is the 17th of them.
    const size_t close = line.rfind(')');
    const size_t open = line.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    int read = 0;
    while (read < 17 && rest >> field) ++read;
    if (read < 17) continue;
    ThreadInfo t;
    t.tid = static_cast<pid_t>(std::atoi(e->d_name));
    t.name = line.substr(open + 1, close - open - 1);
    t.nice = std::atoi(field.c_str());
    out.push_back(std::move(t));
  }
  closedir(dir);
  return out;
}

}  // namespace tern
