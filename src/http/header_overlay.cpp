#include "http/header_overlay.h"

#include <algorithm>

#include "common/strings.h"

namespace gh::http {

void HeaderOverlay::assign(Headers list) {
  give_back_headers(std::move(added_));
  added_ = std::move(list);
  base_edits_.clear();
  base_ = nullptr;
  whole_ = true;
}

Headers HeaderOverlay::take() {
  Headers list = std::move(added_);
  *this = HeaderOverlay();
  return list;
}

HeaderOverlay::BaseEdit* HeaderOverlay::find_edit(std::string_view name) {
  for (auto& e : base_edits_)
    if (iequals(e.name, name)) return &e;
  return nullptr;
}

const HeaderOverlay::BaseEdit* HeaderOverlay::find_edit(std::string_view name) const {
  for (const auto& e : base_edits_)
    if (iequals(e.name, name)) return &e;
  return nullptr;
}

namespace {
class PresenceSink final : public HeaderSink {
 public:
  void add(std::string_view, std::string_view) override { found = true; }
  bool found = false;
};

class CollectingSink final : public HeaderSink {
 public:
  explicit CollectingSink(std::vector<std::string>& out) : out_(out) {}
  void add(std::string_view, std::string_view value) override { out_.emplace_back(value); }

 private:
  std::vector<std::string>& out_;
};
}  // namespace

bool HeaderOverlay::base_might_have(std::string_view name) const {
  if (!base_) return false;
  if (!base_names_) base_names_ = base_->names();
  return base_names_->might_have(name);
}

bool HeaderOverlay::base_has(std::string_view name) const {
  if (const auto* edit = find_edit(name)) return edit->value.has_value();
  if (!base_might_have(name)) return false;
  PresenceSink presence;
  base_->emit_named(name, presence);
  return presence.found;
}

void HeaderOverlay::set(std::string_view name, std::string value) {
  if (auto* edit = find_edit(name)) {
    if (edit->value) {  // the base keeps its first one, with this value
      edit->value = std::move(value);
      added_.remove(name);
      return;
    }
  } else if (base_has(name)) {
    base_edits_.push_back({std::string(name), std::move(value)});
    added_.remove(name);
    return;
  }
  added().set(name, std::move(value));  // the base has none
}

void HeaderOverlay::remove(std::string_view name) {
  added_.remove(name);
  if (whole_) return;
  if (auto* edit = find_edit(name)) {
    edit->value.reset();
  } else if (base_has(name)) {  // removing what the base lacks records nothing (X-Consumer-* clears)
    base_edits_.push_back({std::string(name), std::nullopt});
  }
}

bool HeaderOverlay::has(std::string_view name) const {
  return added_.has(name) || base_has(name);
}

std::optional<std::string> HeaderOverlay::get(std::string_view name) const {
  auto all = get_all(name);
  if (all.empty()) return std::nullopt;
  return std::move(all.front());
}

std::vector<std::string> HeaderOverlay::get_all(std::string_view name) const {
  std::vector<std::string> values;
  if (const auto* edit = find_edit(name)) {
    if (edit->value) values.push_back(*edit->value);
  } else if (base_might_have(name)) {
    CollectingSink collect(values);
    base_->emit_named(name, collect);
  }
  for (auto v : added_.get_all(name)) values.emplace_back(v);
  return values;
}

namespace {
// Passes the base's headers on with the overlay's edits applied: a removed name is dropped, a
// replaced one written once, with its new value, where its first header was.
template <class Edits>
class EditedBaseSink final : public HeaderSink {
 public:
  EditedBaseSink(const Edits& edits, HeaderSink& out) : edits_(edits), out_(out) {}
  void add(std::string_view name, std::string_view value) override {
    for (size_t i = 0; i < edits_.size(); ++i) {
      if (!iequals(edits_[i].name, name)) continue;
      if (edits_[i].value && !written(i)) out_.add(name, *edits_[i].value);
      return;
    }
    out_.add(name, value);
  }

 private:
  // Whether edit i's replacement went out already (marks it so).
  bool written(size_t i) {
    if (i >= written_.size()) written_.resize(edits_.size(), false);
    const bool was = written_[i];
    written_[i] = true;
    return was;
  }
  const Edits& edits_;
  HeaderSink& out_;
  std::vector<bool> written_;
};
}  // namespace

void HeaderOverlay::emit(const HeaderSource& base, HeaderSink& sink) const {
  if (!whole_) {
    if (base_edits_.empty()) {
      base.emit(sink);
    } else {
      EditedBaseSink edited(base_edits_, sink);
      base.emit(edited);
    }
  }
  for (const auto& h : added_) sink.add(h.name, h.value);
}

}  // namespace gh::http
