//! [`Gpu`]: a wgpu device without a window (headless snapshots, tests) — adapter choice,
//! device creation, and how an adapter is described in logs.

use crate::error::ViewerError;

/// A wgpu device without a window.
pub struct Gpu {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What the adapter is (name, backend, `device_type` Cpu for lavapipe/llvmpipe).
    pub info: wgpu::AdapterInfo,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens the default adapter (backends and adapter can be chosen with wgpu's
    /// `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` environment variables). Without `WGPU_BACKEND`,
    /// Vulkan (Metal, DX12) is tried first and GL only when it has no adapter: probing EGL
    /// needlessly logs driver errors on machines without GL.
    pub fn headless() -> Result<Self, ViewerError> {
        let from_env = std::env::var_os("WGPU_BACKEND").is_some();
        let tries: &[Option<wgpu::Backends>] = if from_env {
            &[None]
        } else {
            &[Some(wgpu::Backends::PRIMARY), Some(wgpu::Backends::all())]
        };
        let mut last_error = String::from("no backend tried");
        for backends in tries {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            if let Some(b) = backends {
                desc.backends = *b;
            }
            let instance = wgpu::Instance::new(desc);
            match pollster::block_on(
                instance.request_adapter(&wgpu::RequestAdapterOptions::default()),
            ) {
                Ok(adapter) => return Self::open(adapter),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(ViewerError::NoAdapter(last_error))
    }

    fn open(adapter: wgpu::Adapter) -> Result<Self, ViewerError> {
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("daqflow viewer"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|source| ViewerError::Device {
            adapter: info.name.clone(),
            source,
        })?;
        Ok(Self {
            device,
            queue,
            info,
        })
    }

    /// True for a software rasteriser (lavapipe, llvmpipe, WARP).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// One line for logs: "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)".
    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }
}

/// One line describing an adapter, for logs.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}
