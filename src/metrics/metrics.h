// Metrics in the Prometheus text exposition format (0.0.4), for Kong's prometheus plugin and
// gatehouse's own families (docs/plugins-bundled.md, "Prometheus").
//
// Counters and histograms are updated on the request path without a lock: every thread has its
// own shard of each family (found through a thread-local list), and only that thread writes its
// cells (a relaxed load and store, no read-modify-write). A scrape sums the shards. A new label
// set takes the family's lock once per thread; the number of label sets is bounded (a full
// family drops new ones and counts the drop in Registry::error_count()).
//
// Values families (settable gauges, or counters kept elsewhere) are set off the request path,
// under a lock. render() writes families sorted by name, series sorted by their label text, as
// Kong's exporter orders its output.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gh::metrics {

enum class Type { counter, gauge, histogram };

// Label values, in the order of the family's label names.
using LabelValues = std::span<const std::string_view>;

// Label values made into a shard's index key and hashed once, so several families with the same
// labels (Kong's three latency histograms) look them up without building the key again. Each
// value is length-prefixed, so no value can forge a separator. The values must outlive the key.
class LabelKey {
 public:
  explicit LabelKey(LabelValues values);
  LabelKey(const LabelKey&) = delete;
  LabelKey& operator=(const LabelKey&) = delete;

  LabelValues values() const { return values_; }
  std::string_view text() const { return text_; }
  size_t hash() const { return hash_; }

 private:
  LabelValues values_;
  std::array<char, 256> inline_;  // a request's labels nearly always fit: no allocation
  std::string overflow_;
  std::string_view text_;
  size_t hash_ = 0;
};

class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends "# HELP", "# TYPE" and every sample; nothing at all when the family has no sample
  // yet (as Kong's exporter, which only knows label sets once they were used).
  void render(std::string& out) const;
  // New label sets refused because the family was full.
  virtual uint64_t dropped() const { return 0; }

 protected:
  // `name="value",...` for these values (escaped), the sort and merge key of a series.
  std::string label_text(LabelValues values) const;
  // Appends the sample lines (each ending in '\n'); returns false when there is none.
  virtual bool render_samples(std::string& out) const = 0;

 private:
  std::string name_, help_;
  Type type_;
  std::vector<std::string> label_names_;
};

namespace detail {

// One label set's cells in one thread's shard. Published on the shard's list once complete and
// never moved or freed before the family: a scrape walks the list while the owner appends.
struct Series {
  std::string key;   // the label values, length-prefixed (the owner's index key)
  std::string text;  // Family::label_text of the values
  std::unique_ptr<std::atomic<double>[]> cells;
  Series* next = nullptr;
};

struct Shard {
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
    size_t operator()(const LabelKey& key) const { return key.hash(); }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    bool operator()(const LabelKey& a, std::string_view b) const { return a.text() == b; }
    bool operator()(std::string_view a, const LabelKey& b) const { return a == b.text(); }
  };
  std::unordered_map<std::string, Series*, KeyHash, KeyEqual> index;  // owner thread only
  std::vector<std::unique_ptr<Series>> owned;                         // owner thread only
  std::atomic<Series*> head{nullptr};                                 // read by scrapes
};

}  // namespace detail

// The storage of counters and histograms: `cells` doubles per label set, one shard per thread.
class ShardedFamily : public Family {
 public:
  ShardedFamily(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                size_t cells, size_t max_series);
  ~ShardedFamily() override;
  uint64_t dropped() const override { return dropped_.load(std::memory_order_relaxed); }

 protected:
  // The calling thread's cells for these values (made on first use); null when the family holds
  // max_series series already.
  std::atomic<double>* cells(LabelValues values) { return cells(LabelKey(values)); }
  std::atomic<double>* cells(const LabelKey& key);
  // Every label set's cells summed over the shards, keyed (and so sorted) by label text.
  std::map<std::string, std::vector<double>> merged() const;
  size_t cell_count() const { return cells_; }

 private:
  detail::Shard& local_shard();
  std::atomic<double>* add_series(detail::Shard& shard, const LabelKey& key);

  const uint64_t id_;
  const size_t cells_;
  const size_t max_series_;
  std::atomic<size_t> series_{0};
  std::atomic<uint64_t> dropped_{0};
  mutable std::mutex mutex_;  // shards_ only
  std::vector<std::unique_ptr<detail::Shard>> shards_;
};

// Only the owning thread writes a cell: a plain load and store is enough (and cheaper than an
// atomic add); a scrape may read a value one update old.
inline void bump(std::atomic<double>& cell, double by) {
  cell.store(cell.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

class Counter final : public ShardedFamily {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names, size_t max_series);
  void add(LabelValues values, double by = 1) { add(LabelKey(values), by); }
  void add(const LabelKey& key, double by = 1) {
    if (auto* c = cells(key)) bump(*c, by);
  }
  void add(std::initializer_list<std::string_view> values, double by = 1) {
    add(LabelValues(values.begin(), values.size()), by);
  }
  // The calling thread's cell for these values, for a caller that keeps it to count with bump()
  // (it lives as long as the family; only this thread may bump it); null when the family is full.
  std::atomic<double>* cell(LabelValues values) { return cells(values); }

 private:
  bool render_samples(std::string& out) const override;
};

class Histogram final : public ShardedFamily {
 public:
  // `buckets`: the upper bounds, ascending (+Inf is implied).
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> buckets, size_t max_series);
  void observe(LabelValues values, double value) { observe(LabelKey(values), value); }
  void observe(const LabelKey& key, double value);
  void observe(std::initializer_list<std::string_view> values, double value) {
    observe(LabelValues(values.begin(), values.size()), value);
  }
  const std::vector<double>& buckets() const { return buckets_; }

 private:
  bool render_samples(std::string& out) const override;
  // Cells: one count per bucket (observations in it and above the previous bound), one for
  // +Inf alone, then the sum.
  std::vector<double> buckets_;
};

// Values set from outside the request path: gauges, or counters kept by someone else and copied
// in before a scrape.
class Values final : public Family {
 public:
  Values(std::string name, std::string help, Type type, std::vector<std::string> label_names);
  void set(LabelValues values, double value);
  void set(std::initializer_list<std::string_view> values, double value) {
    set(LabelValues(values.begin(), values.size()), value);
  }
  void remove(LabelValues values);
  void remove(std::initializer_list<std::string_view> values) {
    remove(LabelValues(values.begin(), values.size()));
  }
  void clear();

 private:
  bool render_samples(std::string& out) const override;
  mutable std::mutex mutex_;
  std::map<std::string, double> values_;  // label text → value
};

// A set of families (get-or-create by name: asking twice gives the same family; asking with
// another type or other labels is a programming error and throws std::logic_error). Nothing is
// process-wide: the gateway's registry is in its plugins::SharedMemory (Kong's prometheus_metrics
// shared dict), kept across reloads; families live as long as their registry.
class Registry {
 public:
  explicit Registry(size_t max_series_per_family = 100000) : max_series_(max_series_per_family) {}
  Counter& counter(const std::string& name, const std::string& help, std::vector<std::string> label_names);
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<std::string> label_names,
                       std::vector<double> buckets);
  Values& values(const std::string& name, const std::string& help, Type type,
                 std::vector<std::string> label_names);
  std::vector<const Family*> families() const;
  // Label sets dropped because a family was full (Kong: kong_nginx_metric_errors_total).
  uint64_t error_count() const;

 private:
  template <typename F, typename... Args>
  F& get_or_make(const std::string& name, Type type, const std::vector<std::string>& label_names,
                 Args&&... args);
  size_t max_series_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

// The exposition of these families, sorted by name (families without samples are left out).
void render(std::string& out, std::vector<const Family*> families);

// A sample value as the exposition writes it: integers without a fraction ("12"), others in
// their shortest exact form, NaN and ±Inf by name.
std::string format_value(double value);
// A label value for the exposition: cut at the first byte that is not valid UTF-8 (as Kong's
// exporter does), then backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

// What Kong's /metrics answers with (Prometheus reads it as the 0.0.4 text format).
inline constexpr std::string_view kContentType = "text/plain; charset=UTF-8";

}  // namespace gh::metrics
