// BTF queries: the enums of the running kernel's BTF.
#include <bpf/btf.h>
#include <errno.h>

#include "object.h"

namespace kubesonar_bpf {

// [value, name] of every member of enum `name` in the running kernel's BTF, so that reason
// codes are named as this kernel names them.
Napi::Value KernelBtfEnum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  btf* vm = btf__load_vmlinux_btf();
  if (!vm) throw Napi::Error::New(env, "kernel BTF: " + ErrText(errno));
  Napi::Array out = Napi::Array::New(env);
  int id = btf__find_by_name_kind(vm, name.c_str(), BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(vm, id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::Number::New(env, e[i].val));
      pair.Set(1u, Napi::String::New(env, btf__name_by_offset(vm, e[i].name_off)));
      out.Set(out.Length(), pair);
    }
  }
  btf__free(vm);
  return out;
}

}  // namespace kubesonar_bpf
