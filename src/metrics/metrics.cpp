#include "metrics/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "common/log.h"
#include "common/log_throttle.h"

namespace gh::metrics {

namespace {

// Not state but identities: each thread finds its shard of a family by the family's id
// (ShardedFamily::local_shard), so ids must differ across every registry of the process.
std::atomic<uint64_t> g_next_family_id{1};

const char* type_name(Type type) {
  switch (type) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

// Length of the valid UTF-8 prefix (Unicode 6.2, table 3-7: no overlongs, no surrogates).
size_t valid_utf8_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t more;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + more >= s.size()) return i;  // truncated sequence
    for (size_t j = 1; j <= more; ++j) {
      const auto b = static_cast<unsigned char>(s[i + j]);
      if (b < lo || b > hi) return i;
      lo = 0x80, hi = 0xBF;
    }
    i += more + 1;
  }
  return i;
}

// Backslash and newline escaped (HELP text), and double quotes too (label values).
std::string escaped(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quotes)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

void note_dropped(const std::string& family, size_t max_series) {
  thread_local log::Throttle throttle(std::chrono::seconds(10));
  uint64_t held_back = 0;
  if (throttle.allow(held_back))
    spdlog::error("metrics: family {} holds {} series already: a new label set was dropped ({} more since)",
                  family, max_series, held_back);
}

// "name{labels,le=...}" or "name{le=...}".
void append_series_name(std::string& out, std::string_view name, std::string_view suffix,
                        std::string_view labels, std::string_view extra = {}) {
  out += name;
  out += suffix;
  if (labels.empty() && extra.empty()) return;
  out += '{';
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
}

}  // namespace

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0)
    return fmt::format("{}", static_cast<int64_t>(value));
  return fmt::format("{}", value);
}

std::string escape_label_value(std::string_view value) {
  return escaped(value.substr(0, valid_utf8_prefix(value)), true);
}

// --- Family ---

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

std::string Family::label_text(LabelValues values) const {
  std::string text;
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i) text += ',';
    text += label_names_[i];
    text += "=\"";
    text += escape_label_value(i < values.size() ? values[i] : std::string_view());
    text += '"';
  }
  return text;
}

void Family::render(std::string& out) const {
  std::string samples;
  if (!render_samples(samples)) return;
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, escaped(help_, false), name_, type_name(type_));
  out += samples;
}

// --- ShardedFamily ---

LabelKey::LabelKey(LabelValues values) : values_(values) {
  size_t size = 0;
  for (auto v : values) size += sizeof(uint32_t) + v.size();
  char* out = inline_.data();
  if (size > inline_.size()) {
    overflow_.resize(size);
    out = overflow_.data();
  }
  char* p = out;
  for (auto v : values) {
    const auto n = static_cast<uint32_t>(v.size());
    std::memcpy(p, &n, sizeof n);
    p += sizeof n;
    if (!v.empty()) std::memcpy(p, v.data(), v.size());
    p += v.size();
  }
  text_ = std::string_view(out, size);
  hash_ = std::hash<std::string_view>{}(text_);
}

ShardedFamily::ShardedFamily(std::string name, std::string help, Type type,
                             std::vector<std::string> label_names, size_t cells, size_t max_series)
    : Family(std::move(name), std::move(help), type, std::move(label_names)),
      id_(g_next_family_id.fetch_add(1)),
      cells_(cells),
      max_series_(max_series) {}

ShardedFamily::~ShardedFamily() = default;

// Families are few: a linear scan of this thread's list beats a hash. The list keeps ids of
// families destroyed since (tests); ids are never reused, so those entries are never matched.
detail::Shard& ShardedFamily::local_shard() {
  thread_local std::vector<std::pair<uint64_t, detail::Shard*>> mine;
  for (const auto& [id, shard] : mine)
    if (id == id_) return *shard;
  auto shard = std::make_unique<detail::Shard>();
  auto* raw = shard.get();
  {
    std::lock_guard lock(mutex_);
    shards_.push_back(std::move(shard));
  }
  mine.emplace_back(id_, raw);
  return *raw;
}

std::atomic<double>* ShardedFamily::cells(const LabelKey& key) {
  auto& shard = local_shard();
  if (auto it = shard.index.find(key); it != shard.index.end()) return it->second->cells.get();
  return add_series(shard, key);
}

std::atomic<double>* ShardedFamily::add_series(detail::Shard& shard, const LabelKey& key) {
  if (series_.fetch_add(1, std::memory_order_relaxed) >= max_series_) {
    series_.fetch_sub(1, std::memory_order_relaxed);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    note_dropped(name(), max_series_);
    return nullptr;
  }
  auto series = std::make_unique<detail::Series>();
  series->key = std::string(key.text());
  series->text = label_text(key.values());
  series->cells = std::make_unique<std::atomic<double>[]>(cells_);
  for (size_t i = 0; i < cells_; ++i) series->cells[i].store(0, std::memory_order_relaxed);
  series->next = shard.head.load(std::memory_order_relaxed);
  auto* raw = series.get();
  shard.owned.push_back(std::move(series));
  shard.index.emplace(raw->key, raw);
  shard.head.store(raw, std::memory_order_release);  // complete before a scrape can see it
  return raw->cells.get();
}

std::map<std::string, std::vector<double>> ShardedFamily::merged() const {
  std::map<std::string, std::vector<double>> out;
  std::lock_guard lock(mutex_);
  for (const auto& shard : shards_) {
    for (auto* s = shard->head.load(std::memory_order_acquire); s; s = s->next) {
      auto& sum = out[s->text];
      sum.resize(cells_, 0.0);
      for (size_t i = 0; i < cells_; ++i) sum[i] += s->cells[i].load(std::memory_order_relaxed);
    }
  }
  return out;
}

// --- Counter ---

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names, size_t max_series)
    : ShardedFamily(std::move(name), std::move(help), Type::counter, std::move(label_names), 1, max_series) {}

bool Counter::render_samples(std::string& out) const {
  auto series = merged();
  for (const auto& [labels, cells] : series) {
    append_series_name(out, name(), "", labels);
    out += ' ';
    out += format_value(cells[0]);
    out += '\n';
  }
  return !series.empty();
}

// --- Histogram ---

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> buckets, size_t max_series)
    : ShardedFamily(std::move(name), std::move(help), Type::histogram, std::move(label_names),
                    buckets.size() + 2, max_series),
      buckets_(std::move(buckets)) {}

void Histogram::observe(const LabelKey& key, double value) {
  auto* c = cells(key);
  if (!c) return;
  const auto bucket = std::lower_bound(buckets_.begin(), buckets_.end(), value) - buckets_.begin();
  bump(c[bucket], 1);
  bump(c[buckets_.size() + 1], value);
}

// Kong's order (its keys sorted as text): every series' buckets, then every _count, then every
// _sum.
bool Histogram::render_samples(std::string& out) const {
  auto series = merged();
  const size_t n = buckets_.size();
  for (const auto& [labels, cells] : series) {
    double cumulative = 0;
    for (size_t i = 0; i <= n; ++i) {
      cumulative += cells[i];
      const std::string le = "le=\"" + (i < n ? format_value(buckets_[i]) : std::string("+Inf")) + "\"";
      append_series_name(out, name(), "_bucket", labels, le);
      out += ' ';
      out += format_value(cumulative);
      out += '\n';
    }
  }
  for (const auto& [labels, cells] : series) {
    double count = 0;
    for (size_t i = 0; i <= n; ++i) count += cells[i];
    append_series_name(out, name(), "_count", labels);
    out += ' ';
    out += format_value(count);
    out += '\n';
  }
  for (const auto& [labels, cells] : series) {
    append_series_name(out, name(), "_sum", labels);
    out += ' ';
    out += format_value(cells[n + 1]);
    out += '\n';
  }
  return !series.empty();
}

// --- Values ---

Values::Values(std::string name, std::string help, Type type, std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), type, std::move(label_names)) {}

void Values::set(LabelValues values, double value) {
  auto text = label_text(values);
  std::lock_guard lock(mutex_);
  values_[std::move(text)] = value;
}

void Values::remove(LabelValues values) {
  auto text = label_text(values);
  std::lock_guard lock(mutex_);
  values_.erase(text);
}

void Values::clear() {
  std::lock_guard lock(mutex_);
  values_.clear();
}

bool Values::render_samples(std::string& out) const {
  std::lock_guard lock(mutex_);
  for (const auto& [labels, value] : values_) {
    append_series_name(out, name(), "", labels);
    out += ' ';
    out += format_value(value);
    out += '\n';
  }
  return !values_.empty();
}

// --- Registry ---

template <typename F, typename... Args>
F& Registry::get_or_make(const std::string& name, Type type, const std::vector<std::string>& label_names,
                         Args&&... args) {
  std::lock_guard lock(mutex_);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* family = dynamic_cast<F*>(it->second.get());
    if (!family || family->type() != type || family->label_names() != label_names)
      throw std::logic_error("metric family " + name + " registered twice with different types or labels");
    return *family;
  }
  auto family = std::make_unique<F>(std::forward<Args>(args)...);
  auto& ref = *family;
  families_.emplace(name, std::move(family));
  return ref;
}

Counter& Registry::counter(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names) {
  return get_or_make<Counter>(name, Type::counter, label_names, name, help, label_names, max_series_);
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names, std::vector<double> buckets) {
  return get_or_make<Histogram>(name, Type::histogram, label_names, name, help, label_names,
                                std::move(buckets), max_series_);
}

Values& Registry::values(const std::string& name, const std::string& help, Type type,
                         std::vector<std::string> label_names) {
  return get_or_make<Values>(name, type, label_names, name, help, type, label_names);
}

std::vector<const Family*> Registry::families() const {
  std::lock_guard lock(mutex_);
  std::vector<const Family*> out;
  for (const auto& [name, family] : families_) out.push_back(family.get());
  return out;
}

uint64_t Registry::error_count() const {
  std::lock_guard lock(mutex_);
  uint64_t sum = 0;
  for (const auto& [name, family] : families_) sum += family->dropped();
  return sum;
}

void render(std::string& out, std::vector<const Family*> families) {
  std::sort(families.begin(), families.end(),
            [](const Family* a, const Family* b) { return a->name() < b->name(); });
  for (const auto* family : families) family->render(out);
}

}  // namespace gh::metrics
