;;; eglot-smoke.el --- batch check of durable-harden-eglot.el  -*- lexical-binding: t -*-
;; emacs --batch -l package -f package-initialize -L editors/emacs -l editors/emacs/test/eglot-smoke.el
;; with DH_FILE = src/chat-room.ts of a Worker inside an outer git repository.  Opens the file,
;; starts eglot the way M-x eglot does, and checks the major mode, the project root (the wrangler
;; folder), and that the timer diagnostic arrives through flymake.  Prints "OK"; exits 1 on failure.
(require 'durable-harden-eglot)
(require 'flymake)

(defun dh-fail (fmt &rest args)
  (princ (concat "FAIL: " (apply #'format fmt args) "\n") #'external-debugging-output)
  (kill-emacs 1))

(let* ((file (getenv "DH_FILE"))
       (root (file-name-as-directory
              (file-name-directory (directory-file-name (file-name-directory file))))))
  (find-file file)
  (unless (memq major-mode '(typescript-ts-mode typescript-mode durable-harden-ts-mode))
    (dh-fail "major mode %s" major-mode))
  (princ (format "mode %s\n" major-mode))
  (let ((project (project-current)))
    (unless (equal (project-root project) root)
      (dh-fail "project root %s, not %s" (project-root project) root))
    (princ (format "root %s\n" (project-root project))))
  (apply #'eglot (eglot--guess-contact))
  (let ((server (eglot-current-server))
        (deadline (+ (float-time) 30))
        found)
    (unless server (dh-fail "eglot did not connect"))
    (princ (format "server %s\n" (plist-get (eglot--server-info server) :name)))
    (while (and (not found) (< (float-time) deadline))
      (accept-process-output nil 0.1)
      (setq found (seq-find (lambda (d)
                              (string-match-p "timer-blocks-hibernation\\|setTimeout"
                                              (flymake-diagnostic-text d)))
                            (flymake-diagnostics))))
    (unless found
      (dh-fail "no timer diagnostic; flymake has %S"
               (mapcar #'flymake-diagnostic-text (flymake-diagnostics))))
    (princ (format "diagnostic at line %d\n"
                   (line-number-at-pos (flymake-diagnostic-beg found))))
    (eglot-shutdown server)
    (princ "OK\n")
    (kill-emacs 0)))
