// A header list kept as edits over another list that is not copied: the upstream request's
// headers are the client's (plus Kong's forwarding headers) with the plugins' edits, and copying
// the client's list for every request that a plugin edits cost one allocation per header
// (docs/performance.md, issue #21). The edits are applied when the list is written out.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/header_name_filter.h"
#include "http/headers.h"

namespace gh::http {

// The list an overlay edits, produced on demand (the owner builds it from data it keeps).
class HeaderSource {
 public:
  virtual void emit(HeaderSink& sink) const = 0;
  // Only the headers named `name` (case-insensitive), in order.
  virtual void emit_named(std::string_view name, HeaderSink& sink) const = 0;
  // The names emit could produce, or more (never fewer): asking emit_named is then skipped for
  // the names it lacks. Asked at most once while attached to an overlay.
  virtual HeaderNameFilter names() const { return HeaderNameFilter::everything(); }

 protected:
  ~HeaderSource() = default;
};

// Edits with the semantics of http::Headers (add appends, set replaces every header of the name
// with one at the first one's place, remove removes them all) over a base list. The base is
// consulted by the reads (has/get/get_all), set and remove, and only while attached: the names
// it has must stay the same until it is written out. Without a base (or after assign) the
// overlay is an ordinary list.
class HeaderOverlay {
 public:
  HeaderOverlay() = default;
  HeaderOverlay(HeaderOverlay&&) = default;
  HeaderOverlay& operator=(HeaderOverlay&&) = default;
  ~HeaderOverlay() { give_back_headers(std::move(added_)); }  // its capacity, for the next request

  // The base the reads consult (null: none). It must outlive the calls made while attached.
  void attach(const HeaderSource* base) {
    base_ = whole_ ? nullptr : base;
    base_names_.reset();
  }
  // Replaces everything with `list`, which is from now on the whole list: no base is consulted
  // or written out any more.
  void assign(Headers list);
  bool whole() const { return whole_; }
  // Hands the whole list over (after assign), leaving an empty overlay.
  Headers take();

  void add(std::string name, std::string value) { added().add(std::move(name), std::move(value)); }
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);

  bool has(std::string_view name) const;
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> get_all(std::string_view name) const;
  size_t count(std::string_view name) const { return get_all(name).size(); }

  // The edited list: `base` (unless the overlay holds the whole list) with the edits applied,
  // then the added headers.
  void emit(const HeaderSource& base, HeaderSink& sink) const;

 private:
  // What happens to the base's headers of one name: replaced by one header (at the first one's
  // place) or, without a value, removed.
  struct BaseEdit {
    std::string name;
    std::optional<std::string> value;
  };
  BaseEdit* find_edit(std::string_view name);
  const BaseEdit* find_edit(std::string_view name) const;
  bool base_has(std::string_view name) const;
  // Whether the base might have `name` (false: certainly not), from its names, asked once.
  bool base_might_have(std::string_view name) const;
  // The added list, with room for a few headers from the first one on (a reused block: plugins
  // add four or five headers to a request, and growing a vector one by one is three moves).
  Headers& added() {
    if (added_.entries().capacity() == 0) added_ = take_spare_headers(8);
    return added_;
  }

  const HeaderSource* base_ = nullptr;
  mutable std::optional<HeaderNameFilter> base_names_;  // base_->names(), once a write asked
  bool whole_ = false;
  std::vector<BaseEdit> base_edits_;
  Headers added_;  // after the base's, in order; the whole list once `whole_`
};

}  // namespace gh::http
