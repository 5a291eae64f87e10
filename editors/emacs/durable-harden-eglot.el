;;; durable-harden-eglot.el --- durable-harden with Emacs' eglot  -*- lexical-binding: t -*-

;; The recipe of docs/editors.md ("Emacs + eglot"), as one file: put it on `load-path' and
;; (require 'durable-harden-eglot), or copy its forms into init.el.  Tested in batch Emacs 28
;; (Debian's emacs-nox + elpa-eglot 1.9; eglot ships with Emacs 29+) by
;; tests/editors/test_emacs_eglot.py.
;;
;; - a major mode for .ts/.tsx files: `typescript-ts-mode' (Emacs 29+ with the tree-sitter
;;   grammar installed), else `typescript-mode' (MELPA) when installed, else
;;   `durable-harden-ts-mode', a plain mode derived from `js-mode';
;; - the project root is the folder holding the wrangler config (wrangler.jsonc, wrangler.json,
;;   wrangler.toml), not the outer git repository, so one server runs per Worker;
;; - eglot starts `durable-harden serve' (on PATH; there is no PyPI package: install it from a
;;   checkout of the repository with `python3 -m pip install .', or set
;;   `durable-harden-eglot-command' to the executable's full path).

;;; Code:

(require 'project)
(require 'eglot)
(require 'js)

(defgroup durable-harden nil "durable-harden language server." :group 'tools)

(defcustom durable-harden-eglot-command '("durable-harden" "serve")
  "The command eglot starts for durable-harden (program and arguments)."
  :type '(repeat string))

(defconst durable-harden-wrangler-configs '("wrangler.jsonc" "wrangler.json" "wrangler.toml")
  "Files whose folder is a Worker project's root, tried in this order, each all the way up.")

(define-derived-mode durable-harden-ts-mode js-mode "TypeScript"
  "TypeScript buffers when no TypeScript major mode is installed (js-mode highlighting).")

(defun durable-harden-ts-major-mode ()
  "The TypeScript major mode this Emacs has."
  (cond ((and (fboundp 'typescript-ts-mode)
              (fboundp 'treesit-language-available-p)
              (treesit-language-available-p 'typescript))
         'typescript-ts-mode)
        ((fboundp 'typescript-mode) 'typescript-mode)
        (t 'durable-harden-ts-mode)))

(add-to-list 'auto-mode-alist (cons "\\.tsx?\\'" (durable-harden-ts-major-mode)))

(defun durable-harden-project-find (dir)
  "A project rooted at the folder of the nearest wrangler config above DIR, or nil."
  (let ((root (seq-some (lambda (name) (locate-dominating-file dir name))
                        durable-harden-wrangler-configs)))
    (when root (cons 'durable-harden (file-name-as-directory (expand-file-name root))))))

(cl-defmethod project-root ((project (head durable-harden)))
  (cdr project))

;; before the VC backend: a Worker inside a monorepo gets its own root
(add-hook 'project-find-functions #'durable-harden-project-find -50)

(add-to-list 'eglot-server-programs
             (cons '(typescript-ts-mode typescript-mode durable-harden-ts-mode js-mode)
                   (lambda (&rest _) durable-harden-eglot-command)))

;; M-x eglot in a .ts buffer of the Worker, or start it for every TypeScript buffer:
;; (add-hook 'durable-harden-ts-mode-hook #'eglot-ensure)

(provide 'durable-harden-eglot)
;;; durable-harden-eglot.el ends here
