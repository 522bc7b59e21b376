//! The guest's file opens, guarded against special files.
//!
//! wasmtime-wasi 48 opens a path (`descriptor.open-at`) with a plain
//! `open(2)` on tokio's blocking pool; on a FIFO without a writer that open
//! never returns, and the call's timeout cannot take the thread back. So the
//! linker's `open-at` is replaced by one that first stats the path (a stat
//! never blocks on a FIFO) and refuses anything that is not a regular file,
//! a folder, or a link it will not follow, before wasmtime-wasi opens it.
//!
//! What remains: a special file swapped in between the stat and the open
//! (only someone who can write to the granted folder can do that) still
//! blocks one thread; the grant's scan (`sandbox::file_kind`) refuses a
//! folder that holds one when the connection opens.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{WasiFilesystemCtxView, WasiFilesystemView};
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, Host, HostDescriptor, OpenFlags, PathFlags,
};

use super::store::StoreState;

/// The WASI filesystem interface as wasmtime-wasi 48 defines it (guests
/// importing an older 0.2.x reach it through semver matching).
const TYPES_INTERFACE: &str = "wasi:filesystem/types@0.2.12";

/// Replaces `[method]descriptor.open-at` with the guarded open. Call after
/// wasmtime-wasi was added to `linker`.
pub fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = linker.instance(TYPES_INTERFACE).and_then(|mut types| {
        types.func_wrap_async(
            "[method]descriptor.open-at",
            |mut store: StoreContextMut<'_, StoreState>,
             (dir, path_flags, path, open_flags, flags): (
                Resource<Descriptor>,
                PathFlags,
                String,
                OpenFlags,
                DescriptorFlags,
            )| {
                Box::new(async move {
                    let state = store.data_mut();
                    let mut view = state.filesystem();
                    let opened = guarded_open_at(&mut view, dir, path_flags, path, open_flags, flags).await;
                    Ok((match opened {
                        Ok(descriptor) => Ok(descriptor),
                        Err(error) => Err(view.convert_error_code(error)?),
                    },))
                })
            },
        )
    });
    linker.allow_shadowing(false);
    added
}

async fn guarded_open_at(
    view: &mut WasiFilesystemCtxView<'_>,
    dir: Resource<Descriptor>,
    path_flags: PathFlags,
    path: String,
    open_flags: OpenFlags,
    flags: DescriptorFlags,
) -> FsResult<Resource<Descriptor>> {
    let probe = Resource::new_borrow(dir.rep());
    match view.stat_at(probe, path_flags, path.clone()).await {
        Ok(stat) if !may_open(stat.type_, path_flags) => return Err(ErrorCode::Access.into()),
        // Missing or unreadable: the open below reports it as it would have.
        _ => {}
    }
    view.open_at(dir, path_flags, path, open_flags, flags).await
}

/// Whether a guest may open a path of this type: regular files and folders,
/// and a link only when the open does not follow it (the open then fails
/// without touching the target).
pub fn may_open(kind: DescriptorType, path_flags: PathFlags) -> bool {
    match kind {
        DescriptorType::RegularFile | DescriptorType::Directory => true,
        DescriptorType::SymbolicLink => !path_flags.contains(PathFlags::SYMLINK_FOLLOW),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_and_folders_open() {
        let follow = PathFlags::SYMLINK_FOLLOW;
        assert!(may_open(DescriptorType::RegularFile, follow));
        assert!(may_open(DescriptorType::Directory, follow));
        assert!(may_open(DescriptorType::SymbolicLink, PathFlags::empty()));
        for special in [
            DescriptorType::Fifo,
            DescriptorType::Socket,
            DescriptorType::CharacterDevice,
            DescriptorType::BlockDevice,
            DescriptorType::Unknown,
        ] {
            assert!(!may_open(special, follow), "{special:?}");
            assert!(!may_open(special, PathFlags::empty()), "{special:?}");
        }
    }
}
