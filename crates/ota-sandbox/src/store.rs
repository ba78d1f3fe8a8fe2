//! Persistent state: SQLite for packages, objects' metadata, verification jobs and
//! used nonces; object contents as files beside the database.
//!
//! One connection behind a mutex serialises every statement, which is what makes
//! concurrent creates safe (the name-uniqueness and quota checks and the insert run in
//! one transaction). SQLite runs in WAL mode, so a crash loses at most the request in
//! flight.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// An uploaded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// The OSS key.
    pub key: String,
    /// The content file's name inside the objects directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex MD5 of the content.
    pub md5: String,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// The Content-Type of the uploaded file part, if any.
    pub content_type: Option<String>,
    /// Upload time, Unix milliseconds.
    pub created_ms: i64,
}

/// One file of a multi-file package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareFile {
    /// The file name within the package.
    pub name: String,
    /// Its URL as given.
    pub url: String,
    /// The object key it names.
    pub object_key: String,
    /// Size in bytes.
    pub size: u64,
    /// The signature value (hex digest under the package's sign method).
    pub sign_value: String,
    /// The MD5 of the object.
    pub file_md5: String,
}

/// An OTA package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// FirmwareId.
    pub id: String,
    /// The owning account.
    pub account: String,
    /// FirmwareName.
    pub name: String,
    /// ProductKey.
    pub product_key: Option<String>,
    /// DestVersion.
    pub dest_version: String,
    /// SrcVersion.
    pub src_version: Option<String>,
    /// Type: 0 full, 1 differential.
    pub firmware_type: u8,
    /// SignMethod as it is echoed (`MD5` or `SHA256`).
    pub sign_method: String,
    /// FirmwareSign (single-file packages).
    pub sign: Option<String>,
    /// FirmwareSize (single-file packages).
    pub size: Option<u64>,
    /// FirmwareUrl as given (single-file packages).
    pub url: Option<String>,
    /// The object key named by `url`.
    pub object_key: Option<String>,
    /// FirmwareDesc.
    pub description: Option<String>,
    /// ModuleName (`default` when omitted).
    pub module_name: String,
    /// Udi.
    pub udi: Option<String>,
    /// NeedToVerify.
    pub need_to_verify: bool,
    /// Status: -1 no verification needed, 0 unverified, 1 verified, 2 verifying, 3 failed.
    pub status: i32,
    /// VerifyProgress, 0..=100.
    pub verify_progress: i32,
    /// IotInstanceId, stored as given.
    pub iot_instance_id: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// Last modification time, Unix milliseconds.
    pub modified_ms: i64,
    /// The files of a multi-file package (empty for single-file packages).
    pub files: Vec<FirmwareFile>,
}

/// A verification job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyJob {
    /// JobId.
    pub id: String,
    /// The package.
    pub firmware_id: String,
    /// ProductKey.
    pub product_key: String,
    /// TargetDeviceName.N, as a JSON array.
    pub devices_json: String,
    /// TimeoutInMinutes.
    pub timeout_minutes: Option<i64>,
    /// NeedPush.
    pub need_push: bool,
    /// NeedConfirm.
    pub need_confirm: bool,
    /// DownloadProtocol.
    pub download_protocol: String,
    /// Tag.N, as a JSON array of `[key, value]`.
    pub tags_json: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

/// Why a package could not be inserted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The account already has a package with this name.
    #[error("firmware name exists")]
    NameExists,
    /// The account has `quota` packages already.
    #[error("quota of {quota} packages reached")]
    QuotaExceeded {
        /// The quota.
        quota: u32,
    },
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sandbox's database and object directory.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    objects_dir: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects(
    key TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS firmware(
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    product_key TEXT,
    dest_version TEXT NOT NULL,
    src_version TEXT,
    type INTEGER NOT NULL,
    sign_method TEXT NOT NULL,
    sign TEXT,
    size INTEGER,
    url TEXT,
    object_key TEXT,
    description TEXT,
    module_name TEXT NOT NULL,
    udi TEXT,
    need_to_verify INTEGER NOT NULL,
    status INTEGER NOT NULL,
    verify_progress INTEGER NOT NULL,
    iot_instance_id TEXT,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    UNIQUE(account, name));
CREATE TABLE IF NOT EXISTS firmware_files(
    firmware_id TEXT NOT NULL REFERENCES firmware(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    object_key TEXT NOT NULL,
    size INTEGER NOT NULL,
    sign_value TEXT NOT NULL,
    file_md5 TEXT NOT NULL,
    PRIMARY KEY(firmware_id, idx));
CREATE TABLE IF NOT EXISTS verify_jobs(
    id TEXT PRIMARY KEY,
    firmware_id TEXT NOT NULL,
    product_key TEXT NOT NULL,
    devices TEXT NOT NULL,
    timeout_minutes INTEGER,
    need_push INTEGER NOT NULL,
    need_confirm INTEGER NOT NULL,
    download_protocol TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nonces(
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY(key_id, nonce));
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces(expires_ms);
";

const FIRMWARE_COLUMNS: &str = "id, account, name, product_key, dest_version, src_version, type, \
    sign_method, sign, size, url, object_key, description, module_name, udi, need_to_verify, \
    status, verify_progress, iot_instance_id, created_ms, modified_ms";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn firmware_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Firmware> {
    Ok(Firmware {
        id: row.get(0)?,
        account: row.get(1)?,
        name: row.get(2)?,
        product_key: row.get(3)?,
        dest_version: row.get(4)?,
        src_version: row.get(5)?,
        firmware_type: u8::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
        sign_method: row.get(7)?,
        sign: row.get(8)?,
        size: row.get::<_, Option<i64>>(9)?.map(to_u64),
        url: row.get(10)?,
        object_key: row.get(11)?,
        description: row.get(12)?,
        module_name: row.get(13)?,
        udi: row.get(14)?,
        need_to_verify: row.get::<_, i64>(15)? != 0,
        status: row.get(16)?,
        verify_progress: row.get(17)?,
        iot_instance_id: row.get(18)?,
        created_ms: row.get(19)?,
        modified_ms: row.get(20)?,
        files: Vec::new(),
    })
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: `dir/sandbox.sqlite3` and
    /// `dir/objects/`. Leftover partial uploads from a previous run are removed.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let objects_dir = dir.join("objects");
        let tmp_dir = objects_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;
        for entry in std::fs::read_dir(&tmp_dir).map_err(io_err(&tmp_dir))? {
            let entry = entry.map_err(io_err(&tmp_dir))?;
            // Best effort: a leftover that cannot be removed does no harm.
            let _ = std::fs::remove_file(entry.path());
        }
        let db = dir.join("sandbox.sqlite3");
        let conn = Connection::open(&db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
            objects_dir,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (statements
        // are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory holding object contents.
    pub fn objects_dir(&self) -> &Path {
        &self.objects_dir
    }

    /// The directory for partial uploads.
    pub fn tmp_dir(&self) -> PathBuf {
        self.objects_dir.join("tmp")
    }

    /// The value stored under `name`, or `value` stored now if there was none.
    pub fn meta_get_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT OR IGNORE INTO meta(name, value) VALUES (?1, ?2)",
            params![name, value],
        )?;
        Ok(conn.query_row(
            "SELECT value FROM meta WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )?)
    }

    /// Records an object (replacing one with the same key, as OSS overwrites) and
    /// returns the file name of the content it replaced, if any.
    pub fn put_object(&self, rec: &ObjectRecord) -> Result<Option<String>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let old: Option<String> = tx
            .query_row(
                "SELECT file FROM objects WHERE key = ?1",
                params![rec.key],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT OR REPLACE INTO objects(key, file, size, md5, sha256, content_type, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                rec.key,
                rec.file,
                to_i64(rec.size),
                rec.md5,
                rec.sha256,
                rec.content_type,
                rec.created_ms
            ],
        )?;
        tx.commit()?;
        Ok(old.filter(|f| *f != rec.file))
    }

    /// The object stored under `key`.
    pub fn object(&self, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT key, file, size, md5, sha256, content_type, created_ms FROM objects WHERE key = ?1",
                params![key],
                |r| {
                    Ok(ObjectRecord {
                        key: r.get(0)?,
                        file: r.get(1)?,
                        size: to_u64(r.get(2)?),
                        md5: r.get(3)?,
                        sha256: r.get(4)?,
                        content_type: r.get(5)?,
                        created_ms: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// Inserts a package if its name is free in the account and the account has fewer
    /// than `quota` packages; both checks and the insert are one transaction.
    pub fn insert_firmware(&self, fw: &Firmware, quota: u32) -> Result<(), InsertError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(StoreError::from)?;
        let exists: Option<String> = tx
            .query_row(
                "SELECT id FROM firmware WHERE account = ?1 AND name = ?2",
                params![fw.account, fw.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)?;
        if exists.is_some() {
            return Err(InsertError::NameExists);
        }
        let count: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM firmware WHERE account = ?1",
                params![fw.account],
                |r| r.get(0),
            )
            .map_err(StoreError::from)?;
        if count >= i64::from(quota) {
            return Err(InsertError::QuotaExceeded { quota });
        }
        tx.execute(
            &format!(
                "INSERT INTO firmware({FIRMWARE_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
            ),
            params![
                fw.id,
                fw.account,
                fw.name,
                fw.product_key,
                fw.dest_version,
                fw.src_version,
                i64::from(fw.firmware_type),
                fw.sign_method,
                fw.sign,
                fw.size.map(to_i64),
                fw.url,
                fw.object_key,
                fw.description,
                fw.module_name,
                fw.udi,
                i64::from(fw.need_to_verify),
                fw.status,
                fw.verify_progress,
                fw.iot_instance_id,
                fw.created_ms,
                fw.modified_ms
            ],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                InsertError::NameExists
            }
            other => InsertError::Store(other.into()),
        })?;
        for (idx, f) in fw.files.iter().enumerate() {
            tx.execute(
                "INSERT INTO firmware_files(firmware_id, idx, name, url, object_key, size, sign_value, file_md5)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    fw.id,
                    i64::try_from(idx).unwrap_or(i64::MAX),
                    f.name,
                    f.url,
                    f.object_key,
                    to_i64(f.size),
                    f.sign_value,
                    f.file_md5
                ],
            )
            .map_err(StoreError::from)?;
        }
        tx.commit().map_err(StoreError::from)?;
        Ok(())
    }

    fn load_files(conn: &Connection, fw: &mut Firmware) -> Result<(), StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT name, url, object_key, size, sign_value, file_md5 FROM firmware_files
             WHERE firmware_id = ?1 ORDER BY idx",
        )?;
        let rows = stmt.query_map(params![fw.id], |r| {
            Ok(FirmwareFile {
                name: r.get(0)?,
                url: r.get(1)?,
                object_key: r.get(2)?,
                size: to_u64(r.get(3)?),
                sign_value: r.get(4)?,
                file_md5: r.get(5)?,
            })
        })?;
        fw.files = rows.collect::<Result<_, _>>()?;
        Ok(())
    }

    /// The package `id` of `account`.
    pub fn firmware(&self, account: &str, id: &str) -> Result<Option<Firmware>, StoreError> {
        let conn = self.lock();
        let fw = conn
            .query_row(
                &format!("SELECT {FIRMWARE_COLUMNS} FROM firmware WHERE account = ?1 AND id = ?2"),
                params![account, id],
                firmware_from_row,
            )
            .optional()?;
        match fw {
            Some(mut fw) => {
                Self::load_files(&conn, &mut fw)?;
                Ok(Some(fw))
            }
            None => Ok(None),
        }
    }

    /// One page of the account's packages, newest first, with optional filters;
    /// returns the total count and the page.
    pub fn list_firmware(
        &self,
        account: &str,
        product_key: Option<&str>,
        dest_version: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Firmware>), StoreError> {
        let conn = self.lock();
        let filter = "account = ?1 AND (?2 IS NULL OR product_key = ?2) AND (?3 IS NULL OR dest_version = ?3)";
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM firmware WHERE {filter}"),
            params![account, product_key, dest_version],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {FIRMWARE_COLUMNS} FROM firmware WHERE {filter}
             ORDER BY created_ms DESC, rowid DESC LIMIT ?4 OFFSET ?5"
        ))?;
        let rows = stmt.query_map(
            params![
                account,
                product_key,
                dest_version,
                to_i64(limit),
                to_i64(offset)
            ],
            firmware_from_row,
        )?;
        let page = rows.collect::<Result<Vec<_>, _>>()?;
        Ok((to_u64(total), page))
    }

    /// Deletes package `id` of `account`; false if there was none.
    pub fn delete_firmware(&self, account: &str, id: &str) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = conn.execute(
            "DELETE FROM firmware WHERE account = ?1 AND id = ?2",
            params![account, id],
        )?;
        Ok(n > 0)
    }

    /// Records a verification job and moves the package to status 2 (verifying), if
    /// the package's status is still `expected_status`. Returns false (and records
    /// nothing) when the status changed meanwhile.
    pub fn start_verify_job(
        &self,
        account: &str,
        job: &VerifyJob,
        expected_status: i32,
    ) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE firmware SET status = 2, verify_progress = 0, modified_ms = ?4
             WHERE account = ?1 AND id = ?2 AND status = ?3",
            params![account, job.firmware_id, expected_status, job.created_ms],
        )?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO verify_jobs(id, firmware_id, product_key, devices, timeout_minutes, need_push,
                                     need_confirm, download_protocol, tags, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                job.id,
                job.firmware_id,
                job.product_key,
                job.devices_json,
                job.timeout_minutes,
                i64::from(job.need_push),
                i64::from(job.need_confirm),
                job.download_protocol,
                job.tags_json,
                job.created_ms
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Sets a package's verification status and progress (any account); false if there
    /// is no such package.
    pub fn set_verify_status(
        &self,
        id: &str,
        status: i32,
        progress: i32,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = conn.execute(
            "UPDATE firmware SET status = ?2, verify_progress = ?3, modified_ms = ?4 WHERE id = ?1",
            params![id, status, progress, now_ms],
        )?;
        Ok(n > 0)
    }

    /// Records a nonce for `key_id`; false if it was already recorded and has not
    /// expired. Expired nonces are purged now and then.
    pub fn use_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.lock();
        if rand::random::<u8>() < 4 {
            conn.execute("DELETE FROM nonces WHERE expires_ms < ?1", params![now_ms])?;
        }
        let existing: Option<i64> = conn
            .query_row(
                "SELECT expires_ms FROM nonces WHERE key_id = ?1 AND nonce = ?2",
                params![key_id, nonce],
                |r| r.get(0),
            )
            .optional()?;
        if existing.is_some_and(|e| e >= now_ms) {
            return Ok(false);
        }
        conn.execute(
            "INSERT OR REPLACE INTO nonces(key_id, nonce, expires_ms) VALUES (?1, ?2, ?3)",
            params![key_id, nonce, expires_ms],
        )?;
        Ok(true)
    }

    /// The number of packages in `account`.
    pub fn firmware_count(&self, account: &str) -> Result<u64, StoreError> {
        let conn = self.lock();
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM firmware WHERE account = ?1",
            params![account],
            |r| r.get(0),
        )?;
        Ok(to_u64(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(id: &str, name: &str) -> Firmware {
        Firmware {
            id: id.into(),
            account: "acct".into(),
            name: name.into(),
            product_key: Some("pk".into()),
            dest_version: "1.1".into(),
            src_version: Some("1.0".into()),
            firmware_type: 1,
            sign_method: "MD5".into(),
            sign: Some("00".into()),
            size: Some(3),
            url: Some("http://h/k".into()),
            object_key: Some("k".into()),
            description: None,
            module_name: "default".into(),
            udi: None,
            need_to_verify: false,
            status: -1,
            verify_progress: 0,
            iot_instance_id: None,
            created_ms: 1,
            modified_ms: 1,
            files: vec![],
        }
    }

    #[test]
    fn firmware_round_trip_and_rules() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.insert_firmware(&fw("a", "n1"), 2).unwrap();
        assert!(matches!(
            s.insert_firmware(&fw("b", "n1"), 2),
            Err(InsertError::NameExists)
        ));
        s.insert_firmware(&fw("c", "n2"), 2).unwrap();
        assert!(matches!(
            s.insert_firmware(&fw("d", "n3"), 2),
            Err(InsertError::QuotaExceeded { quota: 2 })
        ));
        assert_eq!(s.firmware("acct", "a").unwrap().unwrap(), fw("a", "n1"));
        assert!(s.firmware("other", "a").unwrap().is_none());
        let (total, page) = s.list_firmware("acct", None, None, 0, 1).unwrap();
        assert_eq!((total, page.len()), (2, 1));
        assert_eq!(page[0].id, "c");
        assert!(s.delete_firmware("acct", "a").unwrap());
        assert!(!s.delete_firmware("acct", "a").unwrap());
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.firmware_count("acct").unwrap(), 1);
    }

    #[test]
    fn nonces_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.use_nonce("k", "n", 100, 0).unwrap());
        assert!(!s.use_nonce("k", "n", 100, 50).unwrap());
        assert!(s.use_nonce("k2", "n", 100, 50).unwrap());
        assert!(s.use_nonce("k", "n", 300, 150).unwrap());
    }
}
