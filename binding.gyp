{
  "variables": {
    # The eBPF addon needs libbpf, clang, bpftool and the kernel's BTF at build time; without
    # them only the netlink addon is built and the eBPF probes report themselves unsupported.
    "has_bpf%": "<!(sh -c 'pkg-config --exists libbpf && command -v clang >/dev/null && command -v bpftool >/dev/null && test -r /sys/kernel/btf/vmlinux && echo 1 || echo 0')"
  },
  "targets": [
    {
      "target_name": "kubesonar",
      "sources": ["native/addon.cc", "native/netlink.cc", "native/netlink-listen.cc", "native/netlink-io.cc", "native/netlink-session.cc", "native/netns-read.cc", "native/proc-scan.cc", "native/proc-pids.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ],
  "conditions": [
    ["has_bpf==1", {
      "targets": [
        {
          "target_name": "kubesonar_bpf",
          "sources": ["native/bpf/addon.cc", "native/bpf/object.cc", "native/bpf/maps.cc", "native/bpf/ringbuf.cc", "native/bpf/btf.cc"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions"],
          "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "<!@(pkg-config --cflags libbpf)"],
          "libraries": ["<!@(pkg-config --libs libbpf)"],
          "actions": [
            {
              "action_name": "bpf_objects",
              "inputs": ["native/bpf/build.sh", "<!@(ls native/bpf/*.bpf.h)", "<!@(ls native/bpf/*.bpf.c)"],
              # One stamp for all objects: a new native/bpf/*.bpf.c needs no edit here.
              "outputs": ["<(PRODUCT_DIR)/bpf/objects.stamp"],
              "action": ["sh", "native/bpf/build.sh", "<(PRODUCT_DIR)/bpf"]
            }
          ]
        }
      ]
    }]
  ]
}
