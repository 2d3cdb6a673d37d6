{
  "targets": [
    {
      "target_name": "mirrorlab",
      "sources": [
        "native/addon.cc",
        "native/syscall_error.cc",
        "native/mm.cc",
        "native/fork_child.cc",
        "native/pagemap.cc",
        "native/userfaultfd.cc",
        "native/thread_access.cc",
        "native/fault_timing.cc",
        "native/drm.cc",
        "native/kvm.cc",
        "native/mirrordrm.cc",
        "native/fakevram.cc",
        "native/cuda.cc",
        "native/amdgpu.cc",
        "native/i915.cc",
        "native/xe.cc",
        "native/nouveau.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "kernel-patches/include"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++20", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror", "-O2"],
      "ldflags": ["-pthread"]
    },
    {
      "target_name": "touch_ref",
      "type": "executable",
      "sources": ["native/reference/touch_ref.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
