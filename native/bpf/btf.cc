// BTF queries. The running kernel's enums name its reason codes (btfEnum of the module); the
// object's own BTF (obj.btfStruct, obj.btfEnum, obj.globals) is how userspace learns the record
// layout, the kinds and the settings of a BPF object from the object itself, by name, instead
// of keeping copies that drift.
#include <bpf/btf.h>
#include <errno.h>
#include <string.h>

#include "object.h"

namespace kubesonar_bpf {

namespace {

// [value, name] of every member of the enum (or enum64) type `id`.
Napi::Array EnumPairs(Napi::Env env, const btf* b, int id) {
  Napi::Array out = Napi::Array::New(env);
  const btf_type* t = btf__type_by_id(b, id);
  // kflag marks a signed enum (BTF from pahole 1.24+/clang 15+); older BTF leaves it 0.
  bool is_signed = btf_kflag(t);
  for (int i = 0; i < btf_vlen(t); i++) {
    double value;
    const char* name;
    if (btf_is_enum64(t)) {
      const struct btf_enum64* e = btf_enum64(t) + i;
      value = is_signed ? static_cast<double>(static_cast<int64_t>(btf_enum64_value(e))) : static_cast<double>(btf_enum64_value(e));
      name = btf__name_by_offset(b, e->name_off);
    } else {
      const struct btf_enum* e = btf_enum(t) + i;
      value = is_signed ? static_cast<double>(e->val) : static_cast<double>(static_cast<uint32_t>(e->val));
      name = btf__name_by_offset(b, e->name_off);
    }
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Number::New(env, value));
    pair.Set(1u, Napi::String::New(env, name));
    out.Set(out.Length(), pair);
  }
  return out;
}

int FindEnum(const btf* b, const std::string& name) {
  int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_ENUM);
  return id > 0 ? id : btf__find_by_name_kind(b, name.c_str(), BTF_KIND_ENUM64);
}

bool IsDataSection(const char* name) {
  return strncmp(name, ".rodata", 7) == 0 || strncmp(name, ".data", 5) == 0 || strncmp(name, ".bss", 4) == 0;
}

}  // namespace

// [value, name] of every member of enum `name` in the running kernel's BTF, so that reason
// codes are named as this kernel names them; empty when the kernel has no such enum.
Napi::Value KernelBtfEnum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  btf* vm = btf__load_vmlinux_btf();
  if (!vm) throw Napi::Error::New(env, "kernel BTF: " + ErrText(errno));
  int id = FindEnum(vm, name);
  Napi::Array out = id > 0 ? EnumPairs(env, vm, id) : Napi::Array::New(env);
  btf__free(vm);
  return out;
}

std::vector<GlobalVar> GlobalVars(const btf* b) {
  std::vector<GlobalVar> out;
  for (unsigned id = 1; id < btf__type_cnt(b); id++) {
    const btf_type* sec = btf__type_by_id(b, id);
    if (!btf_is_datasec(sec)) continue;
    const char* section = btf__name_by_offset(b, sec->name_off);
    if (!IsDataSection(section)) continue;
    const btf_var_secinfo* v = btf_var_secinfos(sec);
    for (int i = 0; i < btf_vlen(sec); i++, v++) {
      const btf_type* var = btf__type_by_id(b, v->type);
      if (!btf_is_var(var)) continue;
      out.push_back({btf__name_by_offset(b, var->name_off), section, v->offset, v->size});
    }
  }
  return out;
}

// The object's BTF: read when the object is opened, so it is there before and after load().
const btf* BpfObject::ObjectBtf(Napi::Env env) {
  if (!obj_) throw Napi::Error::New(env, "object closed");
  const btf* b = bpf_object__btf(obj_);
  if (!b) throw Napi::Error::New(env, path_ + " has no BTF (compiled without -g?)");
  return b;
}

// { size, members: [{ name, offset, size, bits? }] } of struct `name`, in bytes; a bitfield
// member also has `bits`, its width (offset is then the byte of its first bit).
Napi::Value BpfObject::BtfStruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const btf* b = ObjectBtf(env);
  int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_STRUCT);
  if (id <= 0) throw Napi::Error::New(env, "no struct " + name + " in the BTF of " + path_);
  const btf_type* t = btf__type_by_id(b, id);
  Napi::Array members = Napi::Array::New(env, btf_vlen(t));
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", btf__name_by_offset(b, m->name_off));
    o.Set("offset", static_cast<double>(btf_member_bit_offset(t, i) / 8));
    o.Set("size", static_cast<double>(btf__resolve_size(b, m->type)));
    if (uint32_t bits = btf_member_bitfield_size(t, i)) o.Set("bits", static_cast<double>(bits));
    members.Set(i, o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("size", static_cast<double>(t->size));
  out.Set("members", members);
  return out;
}

// [value, name] of every member of enum `name` in the object's BTF; throws when it has none.
Napi::Value BpfObject::BtfEnum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const btf* b = ObjectBtf(env);
  int id = FindEnum(b, name);
  if (id <= 0) throw Napi::Error::New(env, "no enum " + name + " in the BTF of " + path_);
  return EnumPairs(env, b, id);
}

// [{ name, section, offset, size }] of the global variables of .rodata, .data and .bss.
Napi::Value BpfObject::Globals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (const GlobalVar& v : GlobalVars(ObjectBtf(env))) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", v.name);
    o.Set("section", v.section);
    o.Set("offset", static_cast<double>(v.offset));
    o.Set("size", static_cast<double>(v.size));
    out.Set(out.Length(), o);
  }
  return out;
}

}  // namespace kubesonar_bpf
