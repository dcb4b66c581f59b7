#include "pactwatch/core/dispute.h"

#include <algorithm>
#include <array>

namespace pactwatch::core {

namespace {

constexpr std::array<std::pair<DisputeCategory, std::string_view>, 6> kCategories{{
    {DisputeCategory::misattributed, "misattributed"},
    {DisputeCategory::customer_caused, "customer_caused"},
    {DisputeCategory::brand_caused, "brand_caused"},
    {DisputeCategory::force_majeure, "force_majeure"},
    {DisputeCategory::data_error, "data_error"},
    {DisputeCategory::other, "other"},
}};
constexpr std::array<DisputeCategory, 6> kCategoryList{DisputeCategory::misattributed, DisputeCategory::customer_caused,
                                                       DisputeCategory::brand_caused,  DisputeCategory::force_majeure,
                                                       DisputeCategory::data_error,    DisputeCategory::other};

constexpr std::array<std::pair<DisputeAct, std::string_view>, 5> kActs{{
    {DisputeAct::open, "open"},
    {DisputeAct::comment, "comment"},
    {DisputeAct::accept, "accept"},
    {DisputeAct::reject, "reject"},
    {DisputeAct::withdraw, "withdraw"},
}};

template <typename E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return table.front().second;
}

template <typename E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s) {
  for (const auto& [v, name] : table) {
    if (name == s) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(DisputeCategory c) { return name_of(kCategories, c); }
std::optional<DisputeCategory> dispute_category_from(std::string_view s) { return value_of(kCategories, s); }
std::span<const DisputeCategory> dispute_categories() { return kCategoryList; }

std::string_view to_string(DisputeAct a) { return name_of(kActs, a); }
std::optional<DisputeAct> dispute_act_from(std::string_view s) { return value_of(kActs, s); }

std::string_view to_string(DisputeState s) {
  switch (s) {
    case DisputeState::none: return "none";
    case DisputeState::open: return "open";
    case DisputeState::accepted: return "accepted";
    case DisputeState::rejected: return "rejected";
    case DisputeState::withdrawn: return "withdrawn";
  }
  return "none";
}

DisputeState dispute_state(std::span<const DisputeAction> acts) {
  std::vector<const DisputeAction*> ordered;
  for (const auto& a : acts) ordered.push_back(&a);
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto* a, const auto* b) { return a->seq < b->seq; });
  DisputeState state = DisputeState::none;
  for (const auto* a : ordered) {
    // Only the first resolution counts; the store's check refuses any later one.
    if (state != DisputeState::none && state != DisputeState::open) break;
    switch (a->act) {
      case DisputeAct::open: state = DisputeState::open; break;
      case DisputeAct::accept: state = DisputeState::accepted; break;
      case DisputeAct::reject: state = DisputeState::rejected; break;
      case DisputeAct::withdraw: state = DisputeState::withdrawn; break;
      case DisputeAct::comment: break;
    }
  }
  return state;
}

std::string_view to_string(DisputeKind k) { return k == DisputeKind::dispute ? "dispute" : "correction"; }
std::optional<DisputeKind> dispute_kind_from(std::string_view s) {
  if (s == "dispute") return DisputeKind::dispute;
  if (s == "correction") return DisputeKind::correction;
  return std::nullopt;
}

std::expected<void, std::string> check_dispute_act(DisputeState state, const DisputeAction& act, DisputeKind kind) {
  const bool opener = act.party == opener_of(kind);
  const bool dispute = kind == DisputeKind::dispute;
  const std::string where = std::string(to_string(kind)) + " " + act.dispute;
  if (state == DisputeState::none && act.act != DisputeAct::open) return std::unexpected(where + " has not been opened");
  switch (act.act) {
    case DisputeAct::open:
      if (!opener) {
        return std::unexpected(dispute ? "only the partner disputes its own numbers; the brand declares a correction"
                                       : "only the brand declares a correction; the partner disputes a number");
      }
      if (state != DisputeState::none) return std::unexpected(where + " is already " + std::string(to_string(state)));
      if (act.comment.empty()) {
        return std::unexpected(dispute ? "say why: a dispute needs a reason" : "say why: a correction needs a reason");
      }
      return {};
    case DisputeAct::comment:
      if (act.comment.empty()) return std::unexpected("the comment is empty");
      return {};
    case DisputeAct::accept:
    case DisputeAct::reject:
      if (opener) {
        return std::unexpected(dispute ? "only the brand resolves a dispute; the partner may withdraw its own"
                                       : "only the partner accepts or rejects a correction; the brand may withdraw its own");
      }
      if (state != DisputeState::open) return std::unexpected(where + " is already " + std::string(to_string(state)));
      if (act.act == DisputeAct::reject && act.comment.empty()) return std::unexpected("say why: a rejection needs a comment");
      return {};
    case DisputeAct::withdraw:
      if (!opener) {
        return std::unexpected(dispute ? "only the partner withdraws its dispute; the brand accepts or rejects it"
                                       : "only the brand withdraws its correction; the partner accepts or rejects it");
      }
      if (state != DisputeState::open) return std::unexpected(where + " is already " + std::string(to_string(state)));
      return {};
  }
  return {};
}

}  // namespace pactwatch::core
