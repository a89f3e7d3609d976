// The host imports of the guest library, declared once: index.ts documents
// them, and index.ts and threads.ts call them. (One declaration per import
// matters: the instrumentation pass turns calls of *the* `check_migrate`
// import into explicit migration points; a second declaration of it would be
// a second import that the pass does not know.)

@external("popcorn", "print") export declare function _print(ptr: usize, len: i32): void;
@external("popcorn", "str_len") export declare function _strLen(kind: i32, index: i32): i32;
@external("popcorn", "str_copy") export declare function _strCopy(kind: i32, index: i32, ptr: usize): void;
@external("popcorn", "current_kernel") export declare function _currentKernel(): i32;
@external("popcorn", "kernel_count") export declare function _kernelCount(): i32;
@external("popcorn", "migrate_request") export declare function _migrateRequest(kernel: i32): void;
@external("popcorn", "check_migrate") export declare function _checkMigrate(): void;
@external("popcorn", "sys") export declare function _sys(op: i32, a: i32, b: i32, c: i32): i32;
@external("popcorn", "sys_result") export declare function _sysResult(): i32;
@external("popcorn", "current_thread") export declare function _currentThread(): i32;
