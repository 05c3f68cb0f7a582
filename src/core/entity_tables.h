// Kong's entity tables of the kong.yml consumers and credentials, as kong.client.get_consumer
// and get_credential hand them out after an authentication. Each is built on first use and kept
// for the snapshot's life, then shared (never copied) by every request that authenticates with
// that entity: a request pays a reference count instead of a JSON object built and freed.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <unordered_map>

namespace gh::core {

// An immutable entity table (null pointer: none).
using EntityTable = std::shared_ptr<const nlohmann::json>;

// The table, or JSON null without one.
inline const nlohmann::json& table_or_null(const EntityTable& table) {
  static const nlohmann::json kNull;
  return table ? *table : kNull;
}

inline EntityTable make_entity_table(nlohmann::json table) {
  if (table.is_null()) return nullptr;
  return std::make_shared<const nlohmann::json>(std::move(table));
}

// One per snapshot. Thread-safe (workers share it); bounded by the entities of the configuration,
// since the keys are their addresses inside it.
class EntityTables {
 public:
  // The table of `entity`, made by `build(entity)` the first time it is asked for.
  template <typename Entity, typename Build>
  EntityTable get(const Entity& entity, Build build) const {
    const void* key = &entity;
    {
      std::shared_lock read(mutex_);
      if (auto it = tables_.find(key); it != tables_.end()) return it->second;
    }
    EntityTable table = make_entity_table(build(entity));
    std::unique_lock write(mutex_);
    return tables_.emplace(key, std::move(table)).first->second;  // another thread's, if it won
  }

 private:
  mutable std::shared_mutex mutex_;
  mutable std::unordered_map<const void*, EntityTable> tables_;
};

}  // namespace gh::core
