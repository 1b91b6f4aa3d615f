// BpfObject's maps: every key/value read in batches, one entry written or deleted.
#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

#include <algorithm>

#include "object.h"

namespace kubesonar_bpf {

namespace {

bool PerCpu(bpf_map* m) {
  switch (bpf_map__type(m)) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
      return true;
    default:
      return false;
  }
}

}  // namespace

bpf_map* BpfObject::FindMap(Napi::Env env, const Napi::Value& name) {
  if (!obj_ || !loaded_) throw Napi::Error::New(env, "object not loaded");
  std::string n = name.As<Napi::String>().Utf8Value();
  bpf_map* m = bpf_object__find_map_by_name(obj_, n.c_str());
  if (!m || bpf_map__fd(m) < 0) throw Napi::Error::New(env, "no map " + n + " in " + path_);
  return m;
}

// The fd of a loaded map, for another object's shareMap(); valid while this object is open.
Napi::Value BpfObject::MapFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bpf_map__fd(FindMap(info.Env(), info[0])));
}

// { keys, values, count, keySize, valueSize }: per-CPU maps give one value per possible CPU,
// each padded to 8 bytes, back to back (valueSize is that whole stride).
Napi::Value BpfObject::MapDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* m = FindMap(env, info[0]);
  int fd = bpf_map__fd(m);
  size_t ks = bpf_map__key_size(m);
  size_t vs = bpf_map__value_size(m);
  if (PerCpu(m)) vs = ((vs + 7) / 8 * 8) * libbpf_num_possible_cpus();
  size_t max = bpf_map__max_entries(m);
  std::vector<uint8_t> keys(max * ks), values(max * vs);
  size_t count = 0;

  // Batches of up to `max` entries; a hash batch ends at a bucket edge, so loop until ENOENT.
  std::vector<uint8_t> in(std::max<size_t>(ks, 8)), out(std::max<size_t>(ks, 8));
  bool first = true, batched = true;
  while (count < max) {
    __u32 n = max - count;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : in.data(), out.data(), keys.data() + count * ks,
                                   values.data() + count * vs, &n, nullptr);
    int e = err ? errno : 0;
    if (err && e != ENOENT) {
      if (first && (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP)) {
        batched = false;
        break;
      }
      throw Napi::Error::New(env, "bpf_map_lookup_batch: " + ErrText(e));
    }
    count += n;
    if (e == ENOENT) break;
    std::swap(in, out);
    first = false;
  }
  if (!batched) {
    // Kernels or map types without batch lookup: walk the keys one by one.
    count = 0;
    std::vector<uint8_t> prev(ks);
    const void* cur = nullptr;
    while (count < max && bpf_map_get_next_key(fd, cur, keys.data() + count * ks) == 0) {
      if (bpf_map_lookup_elem(fd, keys.data() + count * ks, values.data() + count * vs) == 0) {
        memcpy(prev.data(), keys.data() + count * ks, ks);
        count++;
      }
      cur = prev.data();
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", static_cast<double>(count));
  o.Set("keySize", static_cast<double>(ks));
  o.Set("valueSize", static_cast<double>(vs));
  o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), count * ks));
  o.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), count * vs));
  return o;
}

Napi::Value BpfObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* m = FindMap(env, info[0]);
  auto k = info[1].As<Napi::Buffer<uint8_t>>();
  auto v = info[2].As<Napi::Buffer<uint8_t>>();
  if (k.Length() != bpf_map__key_size(m) || v.Length() != bpf_map__value_size(m)) throw Napi::Error::New(env, "mapUpdate: key or value size mismatch");
  if (bpf_map_update_elem(bpf_map__fd(m), k.Data(), v.Data(), BPF_ANY) != 0) throw Napi::Error::New(env, "bpf_map_update_elem: " + ErrText(errno));
  return env.Undefined();
}

Napi::Value BpfObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* m = FindMap(env, info[0]);
  auto k = info[1].As<Napi::Buffer<uint8_t>>();
  if (k.Length() != bpf_map__key_size(m)) throw Napi::Error::New(env, "mapDelete: key size mismatch");
  return Napi::Boolean::New(env, bpf_map_delete_elem(bpf_map__fd(m), k.Data()) == 0);
}

}  // namespace kubesonar_bpf
